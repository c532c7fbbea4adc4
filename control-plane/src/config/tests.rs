use super::*;
use gatehouse_proxy_core::mcp::Era;
use gatehouse_proxy_core::upstream::UpstreamSpec;
use std::time::Duration;

fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<Vec<_>>();
    Config::parse(text, Path::new("g.toml"), env.into_iter())
}

#[test]
fn servers_and_defaults() {
    let c = parse(
        "listen = \"0.0.0.0:9\"\n[[servers]]\nname = \"db\"\ncommand = \"srv\"\nargs = [\"-v\"]\n[[servers]]\nname = \"web\"\nurl = \"http://x/mcp\"\nera = \"current\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:9");
    assert_eq!(c.database, "sqlite://gatehouse.db");
    assert!(matches!(
        c.server("db").unwrap().upstream_spec().unwrap(),
        UpstreamSpec::Stdio { .. }
    ));
    assert_eq!(c.server("web").unwrap().era, Era::Current);
    assert_eq!(c.limits.body_bytes, 4 * 1024 * 1024);
}

#[test]
fn errors_point_at_the_file_position() {
    let e = parse("listen = \"a\"\n[[servers]]\nname = 3\n", &[]).unwrap_err();
    assert_eq!(e.to_string().split(": ").next().unwrap(), "g.toml:3:8");
    let e = parse("listen = \"a\"\nbogus = 1\n", &[]).unwrap_err();
    assert!(e.to_string().starts_with("g.toml:2:1"), "{e}");
    let e = parse("[[servers]]\nname = \"a\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("set `url`"), "{e}");
    let e = parse("[[servers]]\nname = \"a b\"\ncommand = \"x\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("only letters"), "{e}");
}

#[test]
fn environment_overrides_nested_keys() {
    let c = parse(
        "[limits]\nbody_bytes = 2048\n",
        &[
            ("GATEHOUSE_LISTEN", "127.0.0.1:1"),
            ("GATEHOUSE_LIMITS__REQUEST_TIMEOUT_SECS", "1.5"),
            ("GATEHOUSE_TOKEN", "x"),
            ("GATEHOUSE_MASK_KEY", "a secret, not a config key"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen, "127.0.0.1:1");
    assert_eq!(c.limits.request_timeout(), Duration::from_millis(1500));
    assert_eq!(c.limits.body_bytes, 2048);
}

#[test]
fn agent_servers_name_agents_and_nothing_else() {
    let c = parse(
        "[[servers]]\nname = \"db\"\nagent = \"vnet-1\"\n[[servers]]\nname = \"wide\"\nagent = [\"a\", \"b\"]\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.server("db").unwrap().agents(), vec!["vnet-1"]);
    assert_eq!(c.server("wide").unwrap().agents(), vec!["a", "b"]);
    assert!(c.server("db").unwrap().upstream_spec().is_err());
    let e = parse(
        "[[servers]]\nname = \"db\"\nagent = \"a\"\ncommand = \"psql\"\nenv = { P = \"x\" }\n",
        &[],
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot be combined with `command`, `env`"),
        "{e}"
    );
    let e = parse("[[servers]]\nname = \"db\"\nagent = \"a b\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("agent name `a b`"), "{e}");
    let e = parse("[[servers]]\nname = \"db\"\nagent = []\n", &[]).unwrap_err();
    assert!(e.to_string().contains("names no agent"), "{e}");
    let e = parse("[[servers]]\nname = \"db\"\n", &[]).unwrap_err();
    assert!(e.to_string().contains("or `agent`"), "{e}");
}

#[test]
fn local_servers_name_groups_and_a_known_profile() {
    let c = parse(
        "[[local_servers]]\nname = \"files\"\ncommand = \"npx\"\nargs = [\"srv\"]\nenv = { ROOT = \"env:HOME\" }\ngroups = [\"engineers\"]\nmasking_profile = \"off\"\n",
        &[],
    )
    .unwrap();
    let f = c.local_server("files").unwrap();
    assert_eq!(f.env["ROOT"], "env:HOME", "references stay unresolved here");
    assert!(f.allows(&["engineers".into()]));
    assert!(!f.allows(&["sales".into()]));
    let e = parse(
        "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = []\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("names no group"), "{e}");
    let e = parse("[[local_servers]]\nname = \"f\"\ncommand = \"x\"\n", &[]).unwrap_err();
    assert!(e.to_string().starts_with("g.toml:1:1"), "{e}");
    let e = parse(
        "[[local_servers]]\nname = \"a:b\"\ncommand = \"x\"\ngroups = [\"g\"]\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("only letters"), "{e}");
    let e = parse(
        "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = [\"g\"]\nmasking_profile = \"nope\"\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("masking_profile `nope`"), "{e}");
    let e = parse(
        "[[local_servers]]\nname = \"f\"\ncommand = \"x\"\ngroups = [\"g\"]\n[[local_servers]]\nname = \"f\"\ncommand = \"y\"\ngroups = [\"g\"]\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("configured twice"), "{e}");
}

#[test]
fn secret_references_resolve_or_fail_clearly() {
    let e = parse(
        "[[servers]]\nname = \"a\"\ncommand = \"x\"\nenv = { K = \"env:GATEHOUSE_TEST_UNSET_VAR\" }\n",
        &[],
    )
    .unwrap_err();
    assert!(e.to_string().contains("GATEHOUSE_TEST_UNSET_VAR"), "{e}");
}

#[test]
fn open_trust_rules_are_refused_with_what_to_write() {
    let rule = |require: &[(&str, &str)], prefix: &str| TrustedIssuer {
        issuer: "https://token.actions.githubusercontent.com".into(),
        audience: "https://gh.example/mcp".into(),
        require: require
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        user_claim: "actor".into(),
        user_prefix: prefix.into(),
        groups: vec![],
    };
    assert!(rule(&[], "ci:").problem().unwrap().contains("require"));
    assert!(
        rule(&[("repository_id", "1")], "")
            .problem()
            .unwrap()
            .contains("user_prefix")
    );
    assert!(rule(&[("repository_id", "1")], "ci:").problem().is_none());
}
