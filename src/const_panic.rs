//! Panic messages that name numbers, from `const fn`s.
//!
//! In a `const fn`, `panic!` takes a string but cannot format an integer, so the message is
//! written into a fixed buffer by hand first. Only the panicking (cold) path pays for it.

/// Longest message: a 32-byte name, two 20-digit numbers and the words around them.
const CAP: usize = 128;

/// A message under construction; bytes past `CAP` are cut off (never reached by the callers).
struct Message {
    bytes: [u8; CAP],
    len: usize,
}

impl Message {
    const fn new() -> Self {
        Self {
            bytes: [0; CAP],
            len: 0,
        }
    }

    const fn push_str(&mut self, s: &str) {
        let s = s.as_bytes();
        let mut i = 0;
        while i < s.len() && self.len < CAP {
            self.bytes[self.len] = s[i];
            self.len += 1;
            i += 1;
        }
    }

    const fn push_usize(&mut self, mut n: usize) {
        let mut digits = [0u8; 20]; // usize::MAX has 20 decimal digits
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while count > 0 && self.len < CAP {
            count -= 1;
            self.bytes[self.len] = digits[count];
            self.len += 1;
        }
    }
}

/// Panics with "`what`: len `len` exceeds cap `cap`", at the caller's caller (`#[track_caller]`
/// all the way up).
#[track_caller]
pub(crate) const fn len_exceeds_cap(what: &str, len: usize, cap: usize) -> ! {
    let mut msg = Message::new();
    msg.push_str(what);
    msg.push_str(": len ");
    msg.push_usize(len);
    msg.push_str(" exceeds cap ");
    msg.push_usize(cap);
    let (text, _) = msg.bytes.split_at(msg.len);
    match core::str::from_utf8(text) {
        Ok(text) => panic!("{}", text),
        // Only ASCII is written, and `what` is cut at `CAP` bytes at worst mid-character.
        Err(_) => panic!("len exceeds cap"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[should_panic(expected = "RawIoBuf::with_len: len 18446744073709551615 exceeds cap 0")]
    fn names_both_numbers_in_full() {
        super::len_exceeds_cap("RawIoBuf::with_len", usize::MAX, 0);
    }
}
