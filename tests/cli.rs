//! `refguard check` and `refguard rules` run as processes, the way CI pipelines run them:
//! exit codes, the JSON shape, and what bad input prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn refguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refguard"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the refguard binary runs")
}

fn refguard_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_refguard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the refguard binary runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("stdin accepts the manifest");
    child.wait_with_output().expect("refguard finishes")
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_findings(output: &Output) -> Vec<Value> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("-o json prints JSON");
    report["findings"]
        .as_array()
        .expect("findings is an array")
        .clone()
}

/// Exit status `code` with `expected` on standard output.
#[track_caller]
fn assert_exit_printing(output: &Output, code: i32, expected: &str) {
    assert_eq!(output.status.code(), Some(code), "{}", stderr(output));
    assert!(stdout(output).contains(expected), "{}", stdout(output));
}

/// Exit status 2 with `expected` in the error message; `case` names the case in failures.
#[track_caller]
fn assert_exit_2(output: &Output, expected: &str, case: &str) {
    assert_eq!(output.status.code(), Some(2), "{case}: {}", stderr(output));
    assert!(
        stderr(output).contains(expected),
        "{case}: {}",
        stderr(output)
    );
}

const MUTUAL: &str = "examples/istio-55623/2-mutual";

#[test]
fn reproduction_is_denied_on_istio_1_25_and_passes_on_1_26() {
    let cases = [
        // (step, profile, expected exit code, what the case shows)
        (
            "examples/istio-55623/1-standard-tls",
            "istio@1.25.0",
            0,
            "SIMPLE across namespaces works",
        ),
        (
            MUTUAL,
            "istio@1.25.0",
            1,
            "istio#55623: MUTUAL across namespaces resets handshakes",
        ),
        (MUTUAL, "istio@1.16.0", 1, "first affected release"),
        (MUTUAL, "istio@1.26.0", 0, "fixed in 1.26.0"),
        (MUTUAL, "gateway-api", 0, "valid per the spec"),
        (
            "examples/istio-55623/3-moved-secret",
            "istio@1.25.0",
            0,
            "the documented workaround",
        ),
    ];
    for (step, profile, expected, shows) in cases {
        let output = refguard(&["check", "-f", &repo(step), "--implementation", profile]);
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{shows}: {step} with {profile}\nstdout:\n{}\nstderr:\n{}",
            stdout(&output),
            stderr(&output)
        );
    }
}

#[test]
fn denial_text_names_the_gateway_the_cause_and_the_fix() {
    let output = refguard(&[
        "check",
        "-f",
        &repo(MUTUAL),
        "--implementation",
        "istio@1.25.0",
    ]);
    let text = stdout(&output);

    assert!(text.contains("Gateway istio-gateways/my-gateway"), "{text}");
    assert!(text.contains("deny ["), "{text}");
    assert!(text.contains("spec.listeners[0]"), "{text}");
    assert!(text.contains("FAIL: 1 denial"), "{text}");
}

#[test]
fn json_output_has_the_documented_shape() {
    let output = refguard(&[
        "check",
        "-f",
        &repo(MUTUAL),
        "--implementation",
        "istio@1.25.0",
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let findings = json_findings(&output);
    assert!(!findings.is_empty());
    for finding in &findings {
        let mut keys: Vec<&str> = finding
            .as_object()
            .expect("a finding is an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["field", "listener", "message", "object", "reason", "rule", "severity"]
        );
        let mut object_keys: Vec<&str> = finding["object"]
            .as_object()
            .expect("object is an object")
            .keys()
            .map(String::as_str)
            .collect();
        object_keys.sort_unstable();
        assert_eq!(object_keys, ["apiVersion", "kind", "name", "namespace"]);
        assert!(finding["message"].as_str().expect("message").len() < 120);
    }

    let denial = findings
        .iter()
        .find(|finding| finding["severity"] == "deny")
        .expect("a deny finding");
    assert_eq!(denial["reason"], "UnsupportedByImplementation");
    assert_eq!(denial["listener"], "https-httpbin");
    assert_eq!(denial["object"]["kind"], "Gateway");
    assert_eq!(denial["object"]["namespace"], "istio-gateways");
}

#[test]
fn a_rule_turned_off_in_the_config_no_longer_denies() {
    let output = refguard(&[
        "check",
        "-f",
        &repo(MUTUAL),
        "--implementation",
        "istio@1.25.0",
        "-o",
        "json",
    ]);
    let findings = json_findings(&output);
    let rule = findings
        .iter()
        .find(|finding| finding["severity"] == "deny")
        .and_then(|finding| finding["rule"].as_str())
        .expect("a deny finding with a rule id")
        .to_owned();

    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("rules.yaml");
    std::fs::write(
        &config,
        format!("implementation: istio@1.25.0\nrules:\n  {rule}: off\n"),
    )
    .expect("config written");

    let output = refguard(&[
        "check",
        "-f",
        &repo(MUTUAL),
        "--config",
        &config.display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));

    std::fs::write(&config, format!("rules:\n  {rule}: warn\n")).expect("config written");
    let output = refguard(&[
        "check",
        "-f",
        &repo(MUTUAL),
        "--config",
        &config.display().to_string(),
        "--implementation",
        "istio@1.25.0",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains(&format!("warn [{rule}]")),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_list_is_read_and_a_missing_grant_denies() {
    let output = refguard(&[
        "check",
        "-f",
        &repo("tests/fixtures/check/list.yaml"),
        "-o",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));

    let findings = json_findings(&output);
    let denial = &findings[0];
    assert_eq!(denial["reason"], "RefNotPermitted");
    assert_eq!(denial["object"]["name"], "listed");
    assert_eq!(denial["field"], "spec.listeners[0].tls.certificateRefs[0]");
}

#[test]
fn standard_input_is_read_with_a_dash() {
    let manifest =
        std::fs::read_to_string(repo("tests/fixtures/check/list.yaml")).expect("fixture");
    let output = refguard_stdin(&["check", "-f", "-"], &manifest);
    assert_exit_printing(&output, 1, "Gateway apps/listed");
}

#[test]
fn directories_are_searched_recursively_for_manifests_only() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let nested: PathBuf = dir.path().join("a/b");
    std::fs::create_dir_all(&nested).expect("dirs");
    std::fs::copy(
        repo("tests/fixtures/check/list.yaml"),
        nested.join("gw.yml"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("notes.txt"), "kind: [not yaml").expect("write");

    let output = refguard(&["check", "-f", &dir.path().display().to_string()]);
    assert_exit_printing(&output, 1, "read from 1 file");
}

#[test]
fn files_without_relevant_objects_pass() {
    let manifest = "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\n# only a comment\n";
    let output = refguard_stdin(&["check", "-f", "-"], manifest);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("OK: 0 denials, 0 warnings; 0 objects"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn unreadable_input_exits_2_naming_the_file_and_document() {
    let cases = [
        // (file, expected text in stderr, what the case shows)
        (
            "tests/fixtures/check/bad-yaml.yaml",
            "bad-yaml.yaml: document 2",
            "YAML syntax error",
        ),
        (
            "tests/fixtures/check/truncated.json",
            "truncated.json",
            "JSON syntax error",
        ),
        (
            "tests/fixtures/check/no-name.yaml",
            "document 1: Gateway has no metadata.name",
            "schema",
        ),
        (
            "tests/fixtures/check/does-not-exist.yaml",
            "does-not-exist.yaml",
            "missing file",
        ),
    ];
    for (file, expected, shows) in cases {
        let output = refguard(&["check", "-f", &repo(file)]);
        assert_exit_2(&output, expected, shows);
        assert!(stdout(&output).is_empty(), "{shows}: nothing on stdout");
    }
}

#[test]
fn a_scalar_document_is_not_an_object() {
    let output = refguard_stdin(&["check", "-f", "-"], "just a string\n");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("<stdin>: document 1: not a Kubernetes object"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_usage_exits_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["check"], "required"),
        (
            &["check", "-f", "x.yaml", "--implementation", "envoy"],
            "unknown implementation",
        ),
        (
            &["check", "-f", "x.yaml", "--implementation", "istio"],
            "needs a version",
        ),
        (&["check", "-f", "x.yaml", "-o", "xml"], "invalid value"),
    ];
    for (args, expected) in cases {
        assert_exit_2(&refguard(args), expected, &format!("{args:?}"));
    }
}

#[test]
fn a_bad_config_file_exits_2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("rules.yaml");
    let cases = [
        (
            "rules:\n  no-such-rule: off\n",
            "unknown rule \"no-such-rule\"",
        ),
        ("implementation: istio@one\n", "is not a version"),
        ("rules: [\n", "not valid YAML"),
        ("colour: blue\n", "not valid YAML"),
    ];
    for (text, expected) in cases {
        std::fs::write(&config, text).expect("config written");
        let output = refguard(&[
            "check",
            "-f",
            &repo(MUTUAL),
            "--config",
            &config.display().to_string(),
        ]);
        assert_exit_2(&output, expected, text);
    }
}

#[test]
fn rules_lists_the_catalogue() {
    let output = refguard(&["rules"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let catalogue = refguard::engine::catalogue::RULES;

    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("RULE"), "{text}");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), catalogue.len(), "one row per rule:\n{text}");

    let ids: Vec<&str> = rows
        .iter()
        .map(|row| row.split_whitespace().next().unwrap_or_default())
        .collect();
    let expected: Vec<&str> = catalogue.iter().map(|rule| rule.id).collect();
    assert_eq!(ids, expected, "{text}");
    for (row, rule) in rows.iter().zip(catalogue) {
        assert!(row.contains(rule.reason.as_str()), "{row}");
        assert!(row.contains(rule.default_severity.as_str()), "{row}");
    }
}

#[test]
fn link_cycles_and_repeated_files_are_read_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(
        repo("tests/fixtures/check/list.yaml"),
        dir.path().join("gw.yaml"),
    )
    .expect("copy");
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).expect("symlink");
    let root = dir.path().display().to_string();
    let file = dir.path().join("gw.yaml").display().to_string();

    let output = refguard(&["check", "-f", &root, "-f", &file, "-o", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(json_findings(&output).len(), 1, "{}", stdout(&output));
}
