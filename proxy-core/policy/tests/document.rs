//! Reading policy documents: the accepted shape and every rejection, pinned to line:column.

use gatehouse_policy::{Policy, PolicyError};

/// The errors of a document that must be rejected.
fn errors(src: &str) -> Vec<PolicyError> {
    match Policy::from_yaml(src) {
        Ok(_) => panic!("accepted a bad document:\n{src}"),
        Err(e) => e.errors().to_vec(),
    }
}

/// The single error of a document, as `(line, column, message)`.
fn error(src: &str) -> (usize, usize, String) {
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "expected one error, got {errs:#?}");
    let e = &errs[0];
    (e.line, e.column, e.message.clone())
}

fn rule_doc(rule_body: &str) -> String {
    format!("version: 1\nrules:\n  - name: r1\n{rule_body}")
}

#[test]
fn full_document_shape_is_accepted() {
    let src = r#"
version: 1
default: allow
masking_profile: strict
servers:
  customers: {default: deny, masking_profile: default}
  wiki: {}
rules:
  - name: everything
    description: all fields at once
    principals: {users: [alice], groups: [eng]}
    servers: [customers, "db-*"]
    methods: [tools/call, resources/read]
    tools: [query, "read_*"]
    arguments:
      - {pointer: /sql, matches: '(?i)\bselect\b'}
      - {pointer: "", matches: "."}
    effect: require_approval
    approval: {approvers: [dba, sre], quorum: 2, ttl: 1h30m, mode: retry}
    masking_profile: pii
  - name: deny-with-default-message
    effect: deny
"#;
    let p = Policy::from_yaml(src).unwrap();
    assert_eq!(p.rule_count(), 2);
    assert_eq!(p.source_digest().len(), 64);
}

#[test]
fn unknown_key_points_at_the_key_and_suggests() {
    let (l, c, m) = error(&rule_doc("    tool: [query]\n    effect: allow\n"));
    assert_eq!((l, c), (4, 5));
    assert_eq!(m, "unknown key `tool` in rule #1; did you mean `tools`?");

    let (l, c, m) = error("version: 1\ndefualt: deny\n");
    assert_eq!((l, c), (2, 1));
    assert!(m.contains("did you mean `default`?"), "{m}");

    let (l, c, m) =
        error("version: 1\nservers:\n  customers:\n    default: deny\n    colour: red\n");
    assert_eq!((l, c), (5, 5));
    assert!(
        m.starts_with(
            "unknown key `colour` in server `customers`; allowed keys: default, masking_profile"
        ),
        "{m}"
    );
}

#[test]
fn bad_glob_points_at_the_pattern() {
    let (l, c, m) = error(&rule_doc(
        "    tools: [query, \"db-[ab\"]\n    effect: allow\n",
    ));
    assert_eq!((l, c), (4, 20));
    assert!(
        m.starts_with("tools of rule `r1`: bad glob `db-[ab`: "),
        "{m}"
    );
}

#[test]
fn bad_regex_names_the_rule_and_points_at_the_pattern() {
    let src = rule_doc(
        "    arguments:\n      - pointer: /sql\n        matches: '(?i)\\b(drop'\n    effect: deny\n",
    );
    let (l, c, m) = error(&src);
    assert_eq!((l, c), (6, 18));
    assert!(
        m.starts_with("rule `r1`: pattern `(?i)\\b(drop` does not compile: unclosed group"),
        "{m}"
    );
}

#[test]
fn unknown_effect_suggests_the_closest() {
    let (l, c, m) = error(&rule_doc("    effect: alow\n"));
    assert_eq!((l, c), (4, 13));
    assert_eq!(
        m,
        "unknown effect `alow` in rule `r1` (did you mean `allow`?); use `allow`, `deny` or `require_approval`"
    );
}

#[test]
fn empty_rules_and_empty_lists_are_rejected() {
    let (l, c, m) = error("version: 1\nrules:\n  - {}\n");
    assert_eq!((l, c), (3, 5));
    assert!(m.contains("rule #1 is empty"), "{m}");

    let (l, c, m) = error(&rule_doc("    tools: []\n    effect: allow\n"));
    assert_eq!((l, c), (4, 12));
    assert!(m.contains("empty list, which matches nothing"), "{m}");

    let (l, c, m) = error(&rule_doc("    principals: {}\n    effect: allow\n"));
    assert_eq!((l, c), (4, 17));
    assert!(m.contains("lists nobody"), "{m}");
}

#[test]
fn missing_name_and_effect_are_reported_at_the_rule() {
    let errs = errors("version: 1\nrules:\n  - tools: [a]\n    effect: allow\n  - name: b\n");
    let got: Vec<_> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(got, vec![(3, 5), (5, 5)]);
    assert!(errs[0].message.contains("has no `name`"));
    assert!(errs[1].message.contains("rule `b` has no `effect`"));
}

#[test]
fn duplicate_rule_names_point_at_the_second_and_cite_the_first() {
    let src = "version: 1\nrules:\n  - name: a\n    effect: allow\n  - name: a\n    tools: [x]\n    effect: deny\n";
    let (l, c, m) = error(src);
    assert_eq!((l, c), (5, 11));
    assert!(
        m.starts_with("duplicate rule name `a` (first defined at 3:11)"),
        "{m}"
    );
}

#[test]
fn rules_with_identical_conditions_conflict() {
    let src = "version: 1\nrules:\n  - {name: a, tools: [x, \"y*\"], principals: {groups: [g, h]}, effect: allow}\n  - {name: b, principals: {groups: [h, g]}, tools: [\"y*\", x], effect: deny}\n";
    let (l, c, m) = error(src);
    assert_eq!((l, c), (4, 12));
    assert!(
        m.starts_with("rule `b` has exactly the same conditions as rule `a` (at 3:12)"),
        "{m}"
    );
    // One differing condition makes them distinct.
    let ok = "version: 1\nrules:\n  - {name: a, tools: [x], effect: allow}\n  - {name: b, tools: [x], methods: [tools/call], effect: deny}\n";
    assert!(Policy::from_yaml(ok).is_ok());
}

#[test]
fn approval_bounds_and_ttl() {
    let approval = |body: &str| {
        rule_doc(&format!(
            "    effect: require_approval\n    approval:\n{body}"
        ))
    };
    let (l, c, m) = error(&approval("      approvers: [dba]\n      quorum: 0\n"));
    assert_eq!((l, c), (7, 15));
    assert!(
        m.contains("quorum 0 is out of range; use a number of approvals from 1 to 20"),
        "{m}"
    );

    let (_, _, m) = error(&approval("      approvers: [dba]\n      quorum: 21\n"));
    assert!(m.contains("quorum 21 is out of range"), "{m}");

    let (l, c, m) = error(&approval("      approvers: [dba]\n      ttl: 30x\n"));
    assert_eq!((l, c), (7, 12));
    assert!(m.contains("ttl `30x` has unknown unit `x`"), "{m}");

    let (l, c, m) = error(&approval("      quorum: 1\n"));
    assert_eq!((l, c), (6, 7));
    assert!(m.contains("has no `approvers`"), "{m}");

    let (l, c, m) = error(&approval("      approvers: [dba]\n      mode: wait\n"));
    assert_eq!((l, c), (7, 13));
    assert!(m.contains("unknown approval mode `wait`"), "{m}");

    let (l, c, m) = error(&rule_doc("    effect: require_approval\n"));
    assert_eq!((l, c), (4, 13));
    assert!(m.contains("needs an `approval:` block"), "{m}");
}

#[test]
fn message_and_approval_only_fit_their_effects() {
    let (l, c, m) = error(&rule_doc("    effect: allow\n    message: nope\n"));
    assert_eq!((l, c), (5, 5));
    assert!(
        m.contains("`message` is shown only for `effect: deny`"),
        "{m}"
    );

    let (l, c, m) = error(&rule_doc(
        "    effect: deny\n    approval: {approvers: [dba]}\n",
    ));
    assert_eq!((l, c), (5, 5));
    assert!(
        m.contains("`approval` applies only to `effect: require_approval`"),
        "{m}"
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    let (l, c, m) = error(&rule_doc("    tools: query\n    effect: allow\n"));
    assert_eq!((l, c), (4, 12));
    assert!(m.contains("tools of rule `r1` must be a list"), "{m}");
    assert!(m.ends_with("not text"), "{m}");

    let (l, c, m) = error("version: 1\nrules: {a: 1}\n");
    assert_eq!((l, c), (2, 8));
    assert!(m.contains("not a mapping"), "{m}");

    let (l, c, m) = error(&rule_doc("    tools: [1]\n    effect: allow\n"));
    assert_eq!((l, c), (4, 13));
    assert!(m.contains("must be text, not a number"), "{m}");
}

#[test]
fn version_default_pointer_and_method_checks() {
    let (l, c, m) = error("default: deny\n");
    assert_eq!((l, c), (1, 1));
    assert!(m.contains("missing `version: 1`"), "{m}");

    let (l, c, m) = error("version: 2\n");
    assert_eq!((l, c), (1, 10));
    assert!(m.contains("unsupported policy version 2"), "{m}");

    let (l, c, m) = error("version: 1\ndefault: require_approval\n");
    assert_eq!((l, c), (2, 10));
    assert!(m.contains("can be `allow` or `deny`"), "{m}");

    let (l, c, m) = error(&rule_doc(
        "    arguments: [{pointer: sql, matches: x}]\n    effect: deny\n",
    ));
    assert_eq!((l, c), (4, 27));
    assert!(
        m.contains("must be a JSON pointer starting with `/`"),
        "{m}"
    );

    let (l, c, m) = error(&rule_doc(
        "    methods: [tools/call, \"tools call\"]\n    effect: allow\n",
    ));
    assert_eq!((l, c), (4, 27));
    assert!(m.contains("`tools call` is not an MCP method"), "{m}");
}

#[test]
fn yaml_syntax_errors_and_duplicate_keys_have_positions() {
    let (l, c, m) = error("version: 1\nrules:\n  - name: a\n   effect: [allow\n");
    assert!(m.starts_with("invalid YAML: "), "{m}");
    assert!(l >= 4, "{l}:{c}");

    let (l, c, m) = error("version: 1\nversion: 1\n");
    assert_eq!((l, c), (2, 1));
    assert!(m.contains("duplicated key"), "{m}");

    let (l, c, m) = error("");
    assert_eq!((l, c), (1, 1));
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn all_errors_are_reported_in_one_pass_with_the_file_name() {
    let src = "version: 1\nrules:\n  - name: a\n    effect: alow\n  - name: b\n    tools: ['[']\n    effect: allow\n";
    let err = Policy::from_yaml(src).unwrap_err();
    let text = err.with_file("policy.yaml").to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("policy.yaml:4:13: unknown effect `alow`"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("policy.yaml:6:13: tools of rule `b`: bad glob `[`"),
        "{text}"
    );
}

#[test]
fn anchors_let_rules_share_lists() {
    let src = "version: 1\nrules:\n  - name: a\n    principals: &eng {groups: [eng, sre]}\n    tools: [x]\n    effect: allow\n  - name: b\n    principals: *eng\n    tools: [y]\n    effect: allow\n";
    let p = Policy::from_yaml(src).unwrap_or_else(|e| panic!("{e}"));
    let who = gatehouse_policy::Principal::new("u", ["sre"]);
    assert!(p.visible(&who, "s", gatehouse_policy::ItemKind::Tool, "y"));
}
