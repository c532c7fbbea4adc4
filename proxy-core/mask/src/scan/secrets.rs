//! Credentials. Every format we know either starts with a fixed prefix (`eyJ`, `AKIA`, `ghp_`,
//! `glpat-`, `xoxb-`, `-----BEGIN`) or sits next to a fixed key word (`AccountKey=`, `sig=`,
//! `aws_secret_access_key`, `Password=`, `://user:pass@`). One Aho-Corasick automaton finds all
//! of those words in a single pass (SIMD-accelerated for clean text); a small parser per format
//! then checks the shape around each hit.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{Enabled, Hit, escaped, kind_index, left_ok, looks_like_token, right_ok, run_end};
use crate::kind::Builtin;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    Pem,
    Jwt,
    AwsKeyId,
    AwsSecret,
    AzureKey,
    SasSig,
    Github,
    Gitlab,
    Slack,
    SlackWebhook,
    Password,
    UrlPassword,
}

/// Keywords, spelled in the casings that occur in practice. The automaton is case-sensitive on
/// purpose: an ASCII-case-insensitive one loses the SIMD prefilter and was ~5x slower on clean
/// text. Handlers re-check case where it matters (`AKIA` must be upper case).
const TABLE: &[(&[&str], Trigger, Builtin)] = &[
    (&["-----BEGIN"], Trigger::Pem, Builtin::PrivateKey),
    (&["eyJ"], Trigger::Jwt, Builtin::Jwt),
    (
        &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        Trigger::AwsKeyId,
        Builtin::AwsAccessKey,
    ),
    (
        &[
            "aws_secret",
            "AWS_SECRET",
            "aws secret",
            "AWS secret",
            "AWS Secret",
            "secret_access_key",
            "SECRET_ACCESS_KEY",
            "SecretAccessKey",
            "secretAccessKey",
            "secretaccesskey",
        ],
        Trigger::AwsSecret,
        Builtin::AwsSecretKey,
    ),
    (
        &[
            "AccountKey",
            "accountKey",
            "accountkey",
            "ACCOUNTKEY",
            "account_key",
            "SharedAccessKey",
            "sharedAccessKey",
            "sharedaccesskey",
        ],
        Trigger::AzureKey,
        Builtin::AzureStorageKey,
    ),
    (&["sig="], Trigger::SasSig, Builtin::AzureSasToken),
    (
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        Trigger::Github,
        Builtin::GithubToken,
    ),
    (
        &[
            "glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "glsoat-",
        ],
        Trigger::Gitlab,
        Builtin::GitlabToken,
    ),
    (
        &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-",
        ],
        Trigger::Slack,
        Builtin::SlackToken,
    ),
    (
        &["hooks.slack.com/services/"],
        Trigger::SlackWebhook,
        Builtin::SlackToken,
    ),
    (
        &[
            "password", "Password", "PASSWORD", "passwd", "Passwd", "PASSWD", "pwd", "Pwd", "PWD",
        ],
        Trigger::Password,
        Builtin::Password,
    ),
    (&["://"], Trigger::UrlPassword, Builtin::Password),
];

/// The keyword automaton for the enabled secret detectors.
#[derive(Debug, Clone)]
pub(super) struct Keywords {
    ac: AhoCorasick,
    triggers: Vec<(Trigger, Builtin)>,
}

impl Keywords {
    pub fn new(en: &Enabled) -> Option<Keywords> {
        let mut words = Vec::new();
        let mut triggers = Vec::new();
        for (spellings, t, b) in TABLE {
            if en.has(*b) {
                for w in *spellings {
                    words.push(*w);
                    triggers.push((*t, *b));
                }
            }
        }
        if words.is_empty() {
            return None;
        }
        let ac = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&words)
            .expect("fixed keyword table builds");
        Some(Keywords { ac, triggers })
    }

    pub fn scan(&self, b: &[u8], out: &mut Vec<Hit>) {
        let mut covered = 0;
        for m in self.ac.find_iter(b) {
            if m.start() < covered {
                continue;
            }
            let (trigger, kind) = self.triggers[m.pattern().as_usize()];
            if let Some((s, e)) = verify(trigger, b, m.start(), m.end())
                && s < e
                && !looks_like_token(&b[s..e])
            {
                out.push(Hit {
                    kind: kind_index(kind),
                    start: s,
                    end: e,
                });
                covered = e;
            }
        }
    }
}

fn verify(t: Trigger, b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    match t {
        Trigger::Pem => pem(b, s),
        Trigger::Jwt => jwt(b, s),
        Trigger::AwsKeyId => aws_key_id(b, s),
        Trigger::AwsSecret => aws_secret(b, s, e),
        Trigger::AzureKey => azure_key(b, s, e),
        Trigger::SasSig => sas_sig(b, s, e),
        Trigger::Github => github(b, s, e),
        Trigger::Gitlab => prefixed(b, s, e, 20, |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
        }),
        Trigger::Slack => prefixed(b, s, e, 10, |c| c.is_ascii_alphanumeric() || c == b'-'),
        Trigger::SlackWebhook => {
            let end = run_end(b, e, |c| {
                c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_')
            });
            (end - e >= 20).then_some((e, end))
        }
        Trigger::Password => password(b, s, e),
        Trigger::UrlPassword => url_password(b, s),
    }
}

fn b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn b64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// `-----BEGIN ... PRIVATE KEY-----` through the matching END line; a truncated key is masked to
/// the end of its base64 body.
fn pem(b: &[u8], s: usize) -> Option<(usize, usize)> {
    if !b[s..].starts_with(b"-----BEGIN ") {
        return None;
    }
    let hs = s + 11;
    let rel = memchr::memmem::find(&b[hs..b.len().min(hs + 64)], b"-----")?;
    let header = &b[hs..hs + rel];
    let ok_header = (header.ends_with(b"PRIVATE KEY") || header.ends_with(b"PRIVATE KEY BLOCK"))
        && header
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b' ');
    if !ok_header {
        return None;
    }
    let body = hs + rel + 5;
    let limit = b.len().min(body + 65_536);
    if let Some(k) = memchr::memmem::find(&b[body..limit], b"-----END ") {
        let fs = body + k + 9;
        if let Some(f) = memchr::memmem::find(&b[fs..b.len().min(fs + 64)], b"-----") {
            return Some((s, fs + f + 5));
        }
    }
    let end = run_end(b, body, |c| {
        b64(c) || c == b'=' || c.is_ascii_whitespace() || matches!(c, b'\\' | b':' | b',' | b'-')
    });
    // Do not end inside an escape such as "\n".
    let mut end = end;
    while end > body && (b[end - 1] == b'\\' || b[end - 1] == b'-') {
        end -= 1;
    }
    Some((s, end))
}

/// Three base64url segments, header and payload starting `eyJ` (a JSON object).
fn jwt(b: &[u8], s: usize) -> Option<(usize, usize)> {
    if !b[s..].starts_with(b"eyJ") || (s > 0 && b64url(b[s - 1]) && !escaped(b, s - 1)) {
        return None;
    }
    let h = run_end(b, s, b64url);
    if h - s < 10 || b.get(h) != Some(&b'.') || !b[h + 1..].starts_with(b"eyJ") {
        return None;
    }
    let p = run_end(b, h + 1, b64url);
    if p - h - 1 < 10 {
        return None;
    }
    if b.get(p) != Some(&b'.') {
        return None;
    }
    let sig = run_end(b, p + 1, b64url);
    Some((s, sig))
}

/// `AKIA`/`ASIA`/`ABIA`/`ACCA`/`A3T?` followed by upper-case letters and digits, 20 in all.
fn aws_key_id(b: &[u8], s: usize) -> Option<(usize, usize)> {
    let e = s + 20;
    if e > b.len() || !left_ok(b, s) || !right_ok(b, e) {
        return None;
    }
    let id = &b[s..e];
    let prefix_ok = matches!(&id[..4], b"AKIA" | b"ASIA" | b"ABIA" | b"ACCA")
        || (&id[..3] == b"A3T" && (id[3].is_ascii_uppercase() || id[3].is_ascii_digit()));
    (prefix_ok
        && id
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    .then_some((s, e))
}

fn assignment_sep(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'\t' | b'"' | b'\'' | b'`' | b'=' | b':' | b'>' | b'\\'
    )
}

/// After a key name such as `aws_secret_access_key` / `SecretAccessKey`: a 40-character
/// base64 secret.
fn aws_secret(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if s > 0 && b[s - 1].is_ascii_alphanumeric() {
        return None;
    }
    let name_end = run_end(b, e, |c| c.is_ascii_alphabetic() || c == b'_');
    if name_end - e > 30 {
        return None;
    }
    let v = run_end(b, name_end, assignment_sep);
    if v == name_end || v - name_end > 8 || !b[name_end..v].iter().any(|c| matches!(c, b'=' | b':'))
    {
        return None;
    }
    let ve = run_end(b, v, b64);
    let after_ok = b.get(ve).is_none_or(|c| *c != b'=');
    (ve - v == 40 && after_ok).then_some((v, ve))
}

/// `AccountKey=<base64>` / `SharedAccessKey=<base64>` (connection strings) or
/// `"accountKey": "<base64>"` (JSON).
fn azure_key(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if s > 0 && b[s - 1].is_ascii_alphanumeric() && !escaped(b, s - 1) {
        return None;
    }
    let v = run_end(b, e, assignment_sep);
    if v == e || v - e > 8 || !b[e..v].iter().any(|c| matches!(c, b'=' | b':')) {
        return None;
    }
    let mut ve = run_end(b, v, b64);
    if ve - v < 20 {
        return None;
    }
    let pad = run_end(b, ve, |c| c == b'=');
    if pad - ve <= 2 {
        ve = pad;
    }
    Some((v, ve))
}

/// The `sig=` signature of a SAS token (`?sv=...&se=...&sig=...`); the signature is the secret.
fn sas_sig(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if &b[s..e] != b"sig=" || s == 0 || !matches!(b[s - 1], b'?' | b'&' | b';') {
        return None;
    }
    let window = &b[s.saturating_sub(1024)..s];
    let has_context = [&b"sv="[..], b"se=", b"sr=", b"sp="]
        .iter()
        .any(|k| memchr::memmem::find(window, k).is_some());
    let ve = run_end(b, e, |c| b64(c) || matches!(c, b'%' | b'='));
    (has_context && ve - e >= 16).then_some((e, ve))
}

/// GitHub: `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36 or more alphanumerics, or
/// `github_pat_` + 50 or more of `[A-Za-z0-9_]`.
fn github(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    let kw = &b[s..e];
    if !left_ok(b, s) {
        return None;
    }
    let (body_end, min) = if kw == b"github_pat_" {
        (
            run_end(b, e, |c| c.is_ascii_alphanumeric() || c == b'_'),
            50,
        )
    } else if kw.iter().all(|c| !c.is_ascii_uppercase()) {
        (run_end(b, e, |c| c.is_ascii_alphanumeric()), 36)
    } else {
        return None;
    };
    (body_end - e >= min && right_ok(b, body_end)).then_some((s, body_end))
}

/// A lower-case prefix followed by at least `min` token characters (trailing `.`/`-` trimmed).
fn prefixed(
    b: &[u8],
    s: usize,
    e: usize,
    min: usize,
    body: impl Fn(u8) -> bool,
) -> Option<(usize, usize)> {
    if b[s..e].iter().any(u8::is_ascii_uppercase) || !left_ok(b, s) {
        return None;
    }
    let mut end = run_end(b, e, body);
    while end > e && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    (end - e >= min).then_some((s, end))
}

fn password_stop(c: u8) -> bool {
    c.is_ascii_whitespace()
        || matches!(
            c,
            b';' | b'&' | b'"' | b'\'' | b',' | b'}' | b')' | b'<' | b'>' | b'\\' | b'`'
        )
}

/// `Password=...` in connection strings, `password: ...` in config text, `"password": "..."`
/// in raw JSON. The value is masked; the key is kept.
fn password(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if s > 0 && b[s - 1].is_ascii_alphabetic() && !escaped(b, s - 1) {
        return None;
    }
    if b.get(e).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let mut p = run_end(b, e, |c| {
        matches!(c, b' ' | b'\t' | b'"' | b'\'' | b'`' | b'\\')
    });
    if p - e > 4 {
        return None;
    }
    match b.get(p) {
        Some(b'=') if b.get(p + 1) == Some(&b'>') => p += 2,
        Some(b'=' | b':') => p += 1,
        _ => return None,
    }
    let p = run_end(b, p, |c| c == b' ').min(p + 2);
    let (vs, ve) = match b.get(p) {
        Some(b'\\') if matches!(b.get(p + 1), Some(b'"' | b'\'')) => {
            let vs = p + 2;
            (
                vs,
                run_end(b, vs, |c| !matches!(c, b'\\' | b'"' | b'\'' | b'\n')),
            )
        }
        Some(q @ (b'"' | b'\'' | b'`')) => {
            let q = *q;
            let vs = p + 1;
            (vs, run_end(b, vs, |c| c != q && c != b'\n' && c != b'\\'))
        }
        Some(b'{') => {
            let vs = p + 1;
            (
                vs,
                run_end(b, vs, |c| c != b'}' && c != b'\n' && c != b'\\'),
            )
        }
        _ => (p, run_end(b, p, |c| !password_stop(c))),
    };
    if ve == vs || ve - vs > 256 {
        return None;
    }
    Some((vs, ve))
}

/// `scheme://user:password@host`: the password part.
fn url_password(b: &[u8], s: usize) -> Option<(usize, usize)> {
    if s == 0 || !b[s - 1].is_ascii_alphabetic() {
        return None;
    }
    let stop = |c: u8| {
        c.is_ascii_whitespace()
            || matches!(
                c,
                b'/' | b'@' | b'?' | b'#' | b'"' | b'\'' | b'\\' | b'<' | b'>'
            )
    };
    let u = s + 3;
    let ue = run_end(b, u, |c| !stop(c) && c != b':');
    if ue - u > 128 || b.get(ue) != Some(&b':') {
        return None;
    }
    let ps = ue + 1;
    let pe = run_end(b, ps, |c| !stop(c));
    if pe == ps || pe - ps > 256 || b.get(pe) != Some(&b'@') {
        return None;
    }
    Some((ps, pe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(t: &str) -> Vec<(&'static str, &str)> {
        let mut en = Enabled::default();
        for b in Builtin::ALL {
            en.set(b);
        }
        let k = Keywords::new(&en).unwrap();
        let mut v = Vec::new();
        k.scan(t.as_bytes(), &mut v);
        v.iter()
            .map(|h| (Builtin::ALL[h.kind as usize].name(), &t[h.start..h.end]))
            .collect()
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn jwt_tokens() {
        let t = format!("Authorization: Bearer {JWT}\n");
        assert_eq!(found(&t), [("jwt", JWT)]);
        assert!(found("eyJhbGciOiJIUzI1NiJ9 alone").is_empty());
        assert!(found("keyJustAWord.eyJnotreallyatoken").is_empty());
    }

    #[test]
    fn pem_private_keys() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yx2nsaMd5u+eWYdR1H2wLc3r5Ks=\n-----END RSA PRIVATE KEY-----";
        let t = format!("key:\n{key}\nrest");
        assert_eq!(found(&t), [("private_key", key)]);
        // Public keys and certificates are not secrets.
        assert!(found("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").is_empty());
        // Truncated key: masked to the end of the body.
        let trunc =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ";
        assert_eq!(found(&format!("{trunc}. next")), [("private_key", trunc)]);
    }

    #[test]
    fn aws_keys() {
        assert_eq!(
            found("id=AKIAIOSFODNN7EXAMPLE;"),
            [("aws_access_key", "AKIAIOSFODNN7EXAMPLE")]
        );
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            found(&format!("aws_secret_access_key = {secret}\n")),
            [("aws_secret_key", secret)]
        );
        assert_eq!(
            found(&format!(r#"{{"SecretAccessKey": "{secret}"}}"#)),
            [("aws_secret_key", secret)]
        );
        // Wrong case, too short, glued into a word, no context for a bare 40-char string.
        assert!(found("akiaiosfodnn7example").is_empty());
        assert!(found("AKIAIOSFODNN7EXAMPL").is_empty());
        assert!(found("XAKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(found(&format!("token {secret}")).is_empty());
    }

    #[test]
    fn azure_storage() {
        let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        let cs = format!(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=core.windows.net"
        );
        assert_eq!(found(&cs), [("azure_storage_key", key)]);
        let sas = "https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-01-01T00:00:00Z&sig=a%2BbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D";
        assert_eq!(
            found(sas),
            [(
                "azure_sas_token",
                "a%2BbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D"
            )]
        );
        assert!(found("SharedAccessKeyName=RootManageSharedAccessKey;").is_empty());
        assert!(found("design=sig=abc").is_empty());
    }

    #[test]
    fn vcs_and_chat_tokens() {
        let gh = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        assert_eq!(found(&format!("token {gh}.")), [("github_token", gh)]);
        let pat = format!("github_pat_11ABCDEFG0{}", "a1B2c3D4e5".repeat(6));
        assert_eq!(found(&pat), [("github_token", pat.as_str())]);
        let gl = "glpat-xyzXYZ0123456789abcd";
        assert_eq!(found(&format!("{gl}.")), [("gitlab_token", gl)]);
        let sl = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx";
        assert_eq!(found(sl), [("slack_token", sl)]);
        assert_eq!(
            found("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
            [(
                "slack_token",
                "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
            )]
        );
        assert!(found("ghp_short").is_empty());
        assert!(found("see glpat-abc").is_empty());
    }

    #[test]
    fn passwords() {
        assert_eq!(
            found("Server=db;User Id=sa;Password=S3cr3t!x;Encrypt=true"),
            [("password", "S3cr3t!x")]
        );
        assert_eq!(found("Driver={x};Pwd={a;b c};"), [("password", "a;b c")]);
        assert_eq!(found("PASSWORD: hunter2\n"), [("password", "hunter2")]);
        assert_eq!(
            found(r#"{"password": "p@ss w0rd"}"#),
            [("password", "p@ss w0rd")]
        );
        assert_eq!(
            found(r#"{\"db_password\":\"x1y2\"}"#),
            [("password", "x1y2")]
        );
        assert_eq!(
            found("postgres://admin:s3cr3t@db.example.com:5432/app"),
            [("password", "s3cr3t")]
        );
        // The key word without an assignment, a port instead of a password, already masked.
        assert!(found("Password reset required").is_empty());
        assert!(found("https://example.com:8443/path@x").is_empty());
        assert!(found("password=[PASSWORD]").is_empty());
        assert!(found("passwordless login").is_empty());
    }
}
