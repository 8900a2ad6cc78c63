//! Keeps the three READMEs in step: `README.md` is `readme/en.md` (but for the link to the
//! Chinese version), and `readme/zh.md` carries the same code as `readme/en.md`. The Rust blocks
//! themselves are run as doctests (see the end of `src/lib.rs`). And every time a README quotes
//! is in `benches/RESULTS.md`, which says how it was measured.

const README: &str = include_str!("../README.md");
const EN: &str = include_str!("../readme/en.md");
const ZH: &str = include_str!("../readme/zh.md");
const RESULTS: &str = include_str!("../benches/RESULTS.md");

/// Info strings a block may have: Rust blocks run as doctests, the others must be tagged so
/// rustdoc does not try to compile them (`toml` for `Cargo.toml` snippets).
const LANGS: &[&str] = &[
    "rust",
    "rust,should_panic",
    "bash",
    "toml",
    "text",
    "mermaid",
];

/// A fenced code block: its info string and its lines.
#[derive(Debug, PartialEq)]
struct Block<'a> {
    lang: &'a str,
    lines: Vec<&'a str>,
}

fn blocks(md: &str) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut open: Option<Block<'_>> = None;
    for line in md.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(""), Some(block)) => out.push(block),
            (Some(lang), None) => {
                open = Some(Block {
                    lang,
                    lines: Vec::new(),
                })
            }
            (Some(fence), Some(_)) => panic!("fence ```{fence} opened inside a code block"),
            (None, Some(mut block)) => {
                block.lines.push(line);
                open = Some(block);
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unclosed code block: {open:?}");
    out
}

/// `line` without its `//` comment (outside string literals) and trailing blanks.
fn strip_rust_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let (mut in_str, mut i) = (false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && bytes.get(i + 1) == Some(&b'/') => return line[..i].trim_end(),
            _ => {}
        }
        i += 1;
    }
    line.trim_end()
}

/// The code of a block with comments and blank lines left out, so that translated comments
/// compare equal.
fn code<'a>(block: &Block<'a>) -> Vec<&'a str> {
    block
        .lines
        .iter()
        .map(|line| match block.lang {
            "bash" | "toml" => line.trim_end(),
            _ => strip_rust_comment(line),
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn readme_is_the_english_readme() {
    let from_en = EN.replacen("[中文](zh.md)", "[中文](readme/zh.md)", 1);
    assert_ne!(from_en, EN, "readme/en.md lost its link to zh.md");
    assert!(
        README == from_en,
        "README.md must equal readme/en.md with the Chinese link pointing to readme/zh.md"
    );
}

#[test]
fn every_block_is_tagged() {
    for (name, md) in [("readme/en.md", EN), ("readme/zh.md", ZH)] {
        let blocks = blocks(md);
        assert!(
            blocks.len() >= 10,
            "{name}: only {} code blocks",
            blocks.len()
        );
        for block in &blocks {
            assert!(
                LANGS.contains(&block.lang),
                "{name}: block tagged {:?}: {block:?}",
                block.lang
            );
        }
    }
}

#[test]
fn chinese_readme_has_the_same_code() {
    let (en, zh) = (blocks(EN), blocks(ZH));
    assert_eq!(
        en.iter().map(|b| b.lang).collect::<Vec<_>>(),
        zh.iter().map(|b| b.lang).collect::<Vec<_>>(),
        "the code blocks differ in number, order or language"
    );
    for (i, (en, zh)) in en.iter().zip(&zh).enumerate() {
        // Diagrams are translated; code must match but for its comments.
        if matches!(en.lang, "text" | "mermaid") {
            continue;
        }
        assert_eq!(code(en), code(zh), "code block {i} ({}) differs", en.lang);
    }
}

#[test]
fn the_two_commands_come_first() {
    // Later sections may add commands (benchmarks, say), but not before these.
    let commands: Vec<&str> = blocks(EN)
        .iter()
        .filter(|b| b.lang == "bash")
        .flat_map(|b| b.lines.iter().copied())
        .collect();
    assert_eq!(
        commands[..2.min(commands.len())],
        [
            "cargo run --release --features compio-19 --example direct_io",
            "cargo test --all-features",
        ]
    );
    // CI runs the first line that starts with `cargo test`.
    let test_line = README.lines().find(|l| l.starts_with("cargo test"));
    assert_eq!(test_line, Some("cargo test --all-features"));
}

/// A README is read in minutes: the detail lives in the API docs. 20,000 characters each, with
/// room left for the sections still to come.
#[test]
fn readmes_stay_short() {
    for (name, md) in [
        ("README.md", README),
        ("readme/en.md", EN),
        ("readme/zh.md", ZH),
    ] {
        let chars = md.chars().count();
        assert!(
            chars <= 20_000,
            "{name}: {chars} characters, at most 20,000"
        );
    }
}

/// `.ci/readme-deps` builds the blocks after these markers as a user's project; both
/// languages carry them, in the same order.
#[test]
fn dependency_snippets_are_marked() {
    let markers = |md: &str| -> Vec<String> {
        md.lines()
            .filter(|l| l.starts_with("<!-- readme-deps: "))
            .map(str::to_owned)
            .collect()
    };
    let names = [
        "compio-17",
        "compio-19",
        "compio-20",
        "error",
        "main.rs",
        "fixed.rs",
    ];
    let want: Vec<String> = names
        .iter()
        .map(|n| format!("<!-- readme-deps: {n} -->"))
        .collect();
    assert_eq!(markers(EN), want);
    assert_eq!(markers(ZH), want);
}

#[test]
fn comment_stripping_keeps_strings() {
    assert_eq!(
        strip_rust_comment(r#"let s = "a // b"; // note"#),
        r#"let s = "a // b";"#
    );
    assert_eq!(strip_rust_comment(r#"f("\"//"); // x"#), r#"f("\"//");"#);
    assert_eq!(strip_rust_comment("    // only a comment"), "");
}

/// A number as written (`1,911`, `0.45`) and the unit right after it, if any (`µs`), for every
/// number in `text` that is not part of a word or a version (`v2`, `0.1.4`).
fn numbers(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let glued = prev.is_some_and(|p| p.is_ascii_alphanumeric() || matches!(p, '.' | '_'));
        if !c.is_ascii_digit() || glued {
            prev = Some(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ',' || c == '.'))
            .unwrap_or(rest.len());
        let number = rest[..end].trim_end_matches([',', '.']);
        let after = &rest[number.len()..];
        // A version such as 0.1.4 is no measurement.
        let version = number.matches('.').count() > 1;
        let unit_text = after.strip_prefix(' ').unwrap_or(after);
        let unit_end = unit_text
            .find(|c: char| !(c.is_ascii_alphabetic() || c == 'µ'))
            .unwrap_or(unit_text.len());
        if !version {
            out.push((number, &unit_text[..unit_end]));
        }
        prev = number.chars().last();
        rest = after;
    }
    out
}

/// `md` without its fenced code blocks.
fn prose(md: &str) -> String {
    let mut inside = false;
    let mut out = String::new();
    for line in md.lines() {
        if line.starts_with("```") {
            inside = !inside;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Whether `quoted` (a number with a time unit, as a README shows it) is in RESULTS.md: as
/// written there, or as one of its nanosecond figures rounded to the README's precision.
fn in_results(quoted: &str, unit: &str) -> bool {
    let results = numbers(RESULTS);
    if results.iter().any(|&(n, _)| n == quoted) {
        return true;
    }
    let scale = match unit {
        "ns" => 1.0,
        "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => unreachable!("{unit}"),
    };
    let plain = quoted.replace(',', "");
    let decimals = plain.split_once('.').map_or(0, |(_, d)| d.len());
    results.iter().any(|&(n, _)| {
        n.replace(',', "")
            .parse::<f64>()
            .is_ok_and(|ns| format!("{:.*}", decimals, ns / scale) == plain)
    })
}

#[test]
fn number_scanning_reads_what_a_reader_reads() {
    assert_eq!(
        numbers("costs 1.9 µs (0.1.4: 363 µs), 1,911 ns; v2 x86 4 KiB-16 MiB 0.45 s."),
        [
            ("1.9", "µs"),
            ("363", "µs"),
            ("1,911", "ns"),
            ("4", "KiB"),
            ("16", "MiB"),
            ("0.45", "s")
        ]
    );
    assert!(in_results("1.9", "µs") && in_results("363", "µs") && in_results("0.45", "s"));
    assert!(!in_results("99,999", "µs") && !in_results("9.99", "s"));
}

/// Every time a README quotes (a number with `ns`, `µs`, `ms` or `s`) is a figure of
/// `benches/RESULTS.md`, which gives its command; and every number of README's performance table
/// is there as written.
#[test]
fn every_number_readme_quotes_is_in_the_results() {
    for (name, md) in [("readme/en.md", EN), ("readme/zh.md", ZH)] {
        let text = prose(md);
        let missing: Vec<String> = numbers(&text)
            .into_iter()
            .filter(|&(_, unit)| matches!(unit, "ns" | "µs" | "ms" | "s"))
            .filter(|&(n, unit)| !in_results(n, unit))
            .map(|(n, unit)| format!("{n} {unit}"))
            .collect();
        assert!(
            missing.is_empty(),
            "{name} quotes times RESULTS.md lacks: {missing:?}"
        );
    }
    let results = numbers(RESULTS);
    let table: Vec<&str> = EN
        .split("### Performance")
        .nth(1)
        .expect("readme/en.md has a Performance section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .collect();
    assert!(table.len() >= 3, "the performance table is gone: {table:?}");
    for row in table {
        for cell in row.split('|').skip(2).map(str::trim) {
            if cell.is_empty() || cell == "-" {
                continue;
            }
            assert!(
                results.iter().any(|&(n, _)| n == cell),
                "README's performance table has {cell} ({row}), which RESULTS.md does not"
            );
        }
    }
}
