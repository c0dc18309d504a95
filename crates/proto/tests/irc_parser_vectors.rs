//! The IRC message parser and writer against the ircdocs parser test
//! vectors (<https://github.com/ircdocs/parser-tests>, CC0), committed
//! unmodified under `tests/data/irc-parser-tests/` (see its README.md).
//!
//! - `msg-split.yaml`: each `input` line parsed by `IrcMessage::parse` must
//!   give exactly the `atoms` (tags as a map, a tag without a value being
//!   "", source, verb, params); and writing those atoms back must parse to
//!   the same atoms.
//! - `msg-join.yaml`: `write_message` of each case's `atoms` must give one of
//!   its `matches`, and each of the `matches` must parse to the atoms.
//! - `userhost-split.yaml`: its sources (with tabs and colour codes) must
//!   come through writing and parsing unchanged. switchboard does not split
//!   sources into nick, user and host, so the `atoms` are not used.
//!
//! The data is committed, so a missing or empty file fails these tests.

use std::collections::BTreeMap;
use std::fs;

use switchboard_proto::chat::irc::{write_message, IrcMessage, ParseError};
use yaml_rust2::{Yaml, YamlLoader};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/irc-parser-tests");

/// The `tests` list of one vector file. Panics if the file is missing,
/// unreadable, not YAML, or has no tests.
fn load_tests(file: &str) -> Vec<Yaml> {
    let path = format!("{DATA_DIR}/{file}");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (the vectors are committed; is the checkout whole?)")
    });
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(docs.len(), 1, "{path}: expected one YAML document");
    let tests = match docs.remove(0)["tests"].clone() {
        Yaml::Array(tests) => tests,
        other => panic!("{path}: `tests` is not a list: {other:?}"),
    };
    assert!(!tests.is_empty(), "{path}: no tests");
    tests
}

fn string(yaml: &Yaml, what: &str) -> String {
    yaml.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {yaml:?}"))
        .to_string()
}

/// A message's atoms as the vectors describe them.
#[derive(Debug, Default, PartialEq, Eq)]
struct Atoms {
    /// In file order (for writing); compared as a map.
    tags: Vec<(String, String)>,
    source: Option<String>,
    verb: String,
    params: Vec<String>,
}

impl Atoms {
    /// Reads an `atoms` mapping: absent `params` is empty, absent or null
    /// `tags` and `source` are none. Any other key fails, so that a newer
    /// version of the vectors cannot add a rule that is silently ignored.
    fn from_yaml(atoms: &Yaml) -> Atoms {
        let Yaml::Hash(hash) = atoms else {
            panic!("atoms is not a mapping: {atoms:?}");
        };
        let mut out = Atoms::default();
        let mut have_verb = false;
        for (key, value) in hash {
            match key.as_str() {
                Some("tags") => match value {
                    Yaml::Null => {}
                    Yaml::Hash(tags) => {
                        for (k, v) in tags {
                            out.tags
                                .push((string(k, "tag key"), string(v, "tag value")));
                        }
                    }
                    _ => panic!("tags is not a mapping: {value:?}"),
                },
                Some("source") => match value {
                    Yaml::Null => {}
                    _ => out.source = Some(string(value, "source")),
                },
                Some("verb") => {
                    out.verb = string(value, "verb");
                    have_verb = true;
                }
                Some("params") => match value {
                    Yaml::Null => {}
                    Yaml::Array(params) => {
                        out.params = params.iter().map(|p| string(p, "param")).collect();
                    }
                    _ => panic!("params is not a list: {value:?}"),
                },
                _ => panic!("unknown atom {key:?}"),
            }
        }
        assert!(have_verb, "atoms without a verb: {atoms:?}");
        out
    }

    /// The atoms of a parsed message. Tags keep every occurrence, in order.
    fn of(message: &IrcMessage<'_>) -> Atoms {
        Atoms {
            tags: message
                .tags()
                .map(|(k, v)| (k.to_string(), v.into_owned()))
                .collect(),
            source: message.source.map(str::to_string),
            verb: message.command.to_string(),
            params: message.params().iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The atoms of `line` parsed.
    fn parse(line: &str) -> Result<Atoms, ParseError> {
        IrcMessage::parse(line).map(|m| Atoms::of(&m))
    }

    /// Tags as the vectors compare them: a map in which, of a key given
    /// twice, the last value counts.
    fn tag_map(&self) -> BTreeMap<&str, &str> {
        self.tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn same_as(&self, other: &Atoms) -> bool {
        self.tag_map() == other.tag_map()
            && self.source == other.source
            && self.verb == other.verb
            && self.params == other.params
    }

    fn write(&self) -> String {
        let tags: Vec<(&str, Option<&str>)> = self
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())))
            .collect();
        let params: Vec<&str> = self.params.iter().map(String::as_str).collect();
        write_message(&tags, self.source.as_deref(), &self.verb, &params)
    }
}

/// Fails with every failure listed, after trying every case.
fn report(file: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{file}: {} of {total} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{file}: all {total} vectors pass");
}

#[test]
fn msg_split_vectors_parse_to_their_atoms() {
    let tests = load_tests("msg-split.yaml");
    let mut failures = Vec::new();
    for (i, case) in tests.iter().enumerate() {
        let input = string(&case["input"], "input");
        let expected = Atoms::from_yaml(&case["atoms"]);
        let got = match Atoms::parse(&input) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("#{i} {input:?}: {e}"));
                continue;
            }
        };
        if !got.same_as(&expected) {
            failures.push(format!(
                "#{i} {input:?}:\n  expected {expected:?}\n  got      {got:?}"
            ));
            continue;
        }
        // And back: the atoms written out parse to the same atoms.
        let line = got.write();
        match Atoms::parse(&line) {
            Ok(again) if again.same_as(&expected) => {}
            again => failures.push(format!(
                "#{i} {input:?}: written as {line:?}, which parses to {again:?}"
            )),
        }
    }
    report("msg-split.yaml", tests.len(), &failures);
}

#[test]
fn msg_join_vectors_write_one_of_their_matches() {
    let tests = load_tests("msg-join.yaml");
    let mut failures = Vec::new();
    for (i, case) in tests.iter().enumerate() {
        let desc = case["desc"].as_str().unwrap_or("");
        let atoms = Atoms::from_yaml(&case["atoms"]);
        let matches: Vec<String> = match &case["matches"] {
            Yaml::Array(m) => m.iter().map(|m| string(m, "match")).collect(),
            other => panic!("#{i} {desc}: matches is not a list: {other:?}"),
        };
        assert!(!matches.is_empty(), "#{i} {desc}: no matches");
        let line = atoms.write();
        if !matches.contains(&line) {
            failures.push(format!(
                "#{i} {desc}: wrote {line:?}, expected one of {matches:?}"
            ));
        }
        // Every accepted form parses back to the atoms.
        for m in &matches {
            match Atoms::parse(m) {
                Ok(parsed) if parsed.same_as(&atoms) => {}
                parsed => failures.push(format!(
                    "#{i} {desc}: match {m:?} parses to {parsed:?}, not {atoms:?}"
                )),
            }
        }
    }
    report("msg-join.yaml", tests.len(), &failures);
}

#[test]
fn userhost_vector_sources_come_through_unchanged() {
    let tests = load_tests("userhost-split.yaml");
    let mut failures = Vec::new();
    for (i, case) in tests.iter().enumerate() {
        let source = string(&case["source"], "source");
        let line = write_message(&[], Some(&source), "PRIVMSG", &["#c", "hi there"]);
        let expected = format!(":{source} PRIVMSG #c :hi there");
        if line != expected {
            failures.push(format!("#{i} {source:?}: wrote {line:?}"));
            continue;
        }
        match Atoms::parse(&line) {
            Ok(m)
                if m.source.as_deref() == Some(source.as_str())
                    && m.tags.is_empty()
                    && m.verb == "PRIVMSG"
                    && m.params == ["#c", "hi there"] => {}
            parsed => failures.push(format!("#{i} {source:?}: parsed as {parsed:?}")),
        }
    }
    report("userhost-split.yaml", tests.len(), &failures);
}
