//! Table-driven shell-command corpus (tests/corpus/commands.tsv): each command line or argv
//! with the decision a `command:` allow rule must reach.

use gatehouse_policy::{Effect, Policy, Principal, Request};
use serde_json::Value;

const POLICY: &str = "version: 1
rules:
  - name: strict
    tools: [strict]
    arguments:
      - pointer: /command
        command: {programs: [ls, cat, grep, git, kubectl, echo, head]}
    effect: allow
  - name: pipes
    tools: [pipes]
    arguments:
      - pointer: /command
        command: {programs: [ls, cat, grep, git, kubectl, echo, head], allow_metacharacters: true}
    effect: allow
  - name: flags
    tools: [flags]
    arguments:
      - pointer: /command
        command: {programs: [ls], flags: [-l, -a, -h, --color]}
    effect: allow
";

#[test]
fn command_corpus() {
    let policy = Policy::from_yaml(POLICY).expect("corpus policy is valid");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/commands.tsv");
    let text = std::fs::read_to_string(path).expect("corpus file ships with the crate");
    let mut cases = 0;
    let mut wrong = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut cols = line.splitn(3, '\t');
        let (expected, rule) = (cols.next().unwrap(), cols.next().unwrap());
        let command = cols.next().unwrap_or_default().replace("\\n", "\n");
        let value = if command.starts_with(['[', '{']) || command.parse::<f64>().is_ok() {
            serde_json::from_str(&command).expect("JSON command parses")
        } else {
            Value::String(command.clone())
        };
        let decision = policy.evaluate(&Request {
            principal: Principal::new("alice", ["engineers"]),
            server: "shell".into(),
            method: "tools/call".into(),
            tool: Some(rule.into()),
            arguments: serde_json::json!({ "command": value }),
        });
        cases += 1;
        if (decision.effect == Effect::Allow) != (expected == "allow") {
            wrong.push(format!(
                "commands.tsv:{}: {rule} {command:?} → {:?}",
                n + 1,
                decision.effect
            ));
        }
    }
    assert!(cases >= 100, "{cases} cases");
    assert!(
        wrong.is_empty(),
        "{} of {cases} decided wrongly:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
