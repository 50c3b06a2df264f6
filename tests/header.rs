//! The committed header must equal what cbindgen generates from the current source
//! (regenerate with `make header`), and must export only `o365_` / `O365_` names.

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/o365.h"));
const GENERATED_PHP: &str = include_str!(concat!(env!("OUT_DIR"), "/o365_php.h"));

fn committed(name: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("include")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn committed_header_is_current() {
    assert!(
        committed("o365.h") == GENERATED,
        "include/o365.h is stale: the exported API changed. Run `make header` and commit include/."
    );
}

#[test]
fn committed_php_declarations_are_current() {
    assert!(
        committed("o365_php.h") == GENERATED_PHP,
        "include/o365_php.h is stale. Run `make header` and commit include/."
    );
}

#[test]
fn header_names_are_prefixed() {
    for line in GENERATED.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#define ") {
            let name = rest.split_whitespace().next().unwrap();
            assert!(name.starts_with("O365_"), "unprefixed macro {name}");
        }
        if t.starts_with("typedef ") {
            assert!(t.contains("o365_"), "unprefixed typedef: {t}");
        }
    }
    for line in GENERATED_PHP.lines() {
        assert!(
            !line.trim_start().starts_with('#'),
            "preprocessor line in PHP declarations: {line}"
        );
    }
}

/// Function declarations in a header (a long one may be wrapped over several lines).
fn declarations(header: &str) -> usize {
    let code: String = header
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("//")
                || t.starts_with("/*")
                || t.starts_with('*')
                || t.starts_with('#'))
        })
        .map(|l| format!("{} ", l.trim()))
        .collect();
    code.split(';')
        .map(str::trim)
        .filter(|d| d.contains(" o365_") && d.ends_with(')') && !d.starts_with("typedef"))
        .count()
}

#[test]
fn php_declarations_list_every_function() {
    let fns = declarations(GENERATED);
    let php_fns = declarations(GENERATED_PHP);
    assert!(fns >= 10, "expected the exports in the header, found {fns}");
    assert_eq!(fns, php_fns);
}
