//! The whole call, stage by stage, with an in-memory host: no network, no database.

use crate::*;
use gatehouse_mask::{Masker, Profile};
use gatehouse_proxy_core::jsonrpc::Message;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A host keeping records in memory; `fail_after` makes the n-th write and later fail.
struct MemoryHost {
    policy: Option<Arc<PolicyInForce>>,
    records: Mutex<Vec<Vec<Record>>>,
    fail_after: Option<usize>,
    hold: HoldOutcome,
    held: Mutex<Vec<(String, Value)>>,
    pins: crate::pins::tests::MemoryPins,
}

impl MemoryHost {
    fn new() -> MemoryHost {
        MemoryHost {
            policy: Some(Arc::new(crate::decide::tests::policy())),
            records: Mutex::new(Vec::new()),
            fail_after: None,
            hold: HoldOutcome::Proceed,
            held: Mutex::new(Vec::new()),
            pins: Default::default(),
        }
    }

    fn writes(&self) -> Vec<Vec<Record>> {
        self.records.lock().unwrap().clone()
    }

    fn kinds(&self) -> Vec<String> {
        self.writes()
            .concat()
            .iter()
            .map(|r| format!("{}:{}", r.direction.as_str(), r.kind))
            .collect()
    }
}

impl Rights for MemoryHost {
    fn policy(&self) -> Option<Arc<PolicyInForce>> {
        self.policy.clone()
    }

    /// Auditors see everything; everyone else gets the default profile.
    fn masking(&self, principal: &Principal) -> Masking {
        let profile = if principal.groups.iter().any(|g| g == "auditors") {
            Profile {
                detectors: Vec::new(),
                field_names: Vec::new(),
                ..Profile::default()
            }
        } else {
            Profile::default()
        };
        Masking::new(Arc::new(Masker::new(&profile, None).unwrap()))
    }
}

impl Records for MemoryHost {
    async fn keep(&self, records: Vec<Record>) -> Result<(), RecordError> {
        let mut all = self.records.lock().unwrap();
        if self.fail_after.is_some_and(|n| all.len() >= n) {
            return Err(RecordError("the disk is full".into()));
        }
        all.push(records);
        Ok(())
    }
}

impl Approvals for MemoryHost {
    async fn hold<C: Client>(&self, held: Held<'_>, client: &mut C) -> HoldOutcome {
        let waiting = WaitingFor {
            approval: "a1".into(),
            approvers: held.terms.approvers.clone(),
            approvals: 0,
            quorum: held.terms.quorum,
        };
        client.still_waiting(&waiting).await;
        self.held
            .lock()
            .unwrap()
            .push((held.digest.clone(), held.arguments.get().clone()));
        self.hold.clone()
    }
}

impl ToolPins for MemoryHost {
    async fn changed(&self, server: &str, tool: &str) -> Result<bool, String> {
        self.pins.changed(server, tool).await
    }

    async fn observe(
        &self,
        server: &str,
        tool: &str,
        digest: &str,
        definition: &str,
    ) -> Result<Option<PinChange>, String> {
        self.pins.observe(server, tool, digest, definition).await
    }
}

/// An upstream answering each request with the next scripted messages; it notes how
/// many records existed when a request reached it.
struct Scripted {
    answers: Mutex<VecDeque<Vec<Message>>>,
    seen: Mutex<Vec<(Message, usize)>>,
    host_records: Arc<dyn Fn() -> usize + Send + Sync>,
}

struct ScriptedExchange(VecDeque<Message>, bool);

impl Exchange for ScriptedExchange {
    async fn next(&mut self) -> Option<Message> {
        match self.0.pop_front() {
            Some(m) => Some(m),
            None if self.1 => std::future::pending().await,
            None => None,
        }
    }
}

impl Upstream for Scripted {
    type Exchange = ScriptedExchange;

    async fn request(&self, msg: Message) -> Result<ScriptedExchange, String> {
        self.seen.lock().unwrap().push((msg, (self.host_records)()));
        match self.answers.lock().unwrap().pop_front() {
            Some(a) if a.is_empty() => Ok(ScriptedExchange(VecDeque::new(), true)),
            Some(a) => Ok(ScriptedExchange(a.into(), false)),
            None => Err("it is not running".into()),
        }
    }

    async fn send(&self, msg: Message) -> Result<(), String> {
        self.seen.lock().unwrap().push((msg, (self.host_records)()));
        Ok(())
    }
}

#[derive(Default)]
struct Collected {
    answers: Vec<Message>,
    waiting: Vec<String>,
    gone: bool,
}

impl Client for Collected {
    async fn answer(&mut self, msg: Masked<Message>) -> bool {
        self.answers.push(msg.into_inner());
        true
    }

    async fn gone(&self) {
        if !self.gone {
            std::future::pending::<()>().await
        }
    }

    async fn still_waiting(&mut self, waiting: &WaitingFor) -> bool {
        self.waiting.push(waiting.message());
        true
    }
}

fn msg(v: Value) -> Message {
    Message::from_value(v).unwrap()
}

fn tool_call(id: u64, tool: &str, arguments: Value) -> Message {
    msg(
        json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":arguments}}),
    )
}

fn result(id: u64, text: &str) -> Message {
    msg(json!({"jsonrpc":"2.0","id":id,"result":{"content":[{"type":"text","text":text}]}}))
}

fn eng() -> Principal {
    Principal::new("ada", ["eng"])
}

const ROUTE: Route<'static> = Route {
    session_id: "s1",
    server: "db",
    timeout: Some(Duration::from_secs(30)),
};

fn upstream(host: &Arc<MemoryHost>, answers: Vec<Vec<Message>>) -> Scripted {
    let h = host.clone();
    Scripted {
        answers: Mutex::new(answers.into()),
        seen: Mutex::new(Vec::new()),
        host_records: Arc::new(move || h.records.lock().unwrap().len()),
    }
}

#[tokio::test]
async fn an_allowed_call_is_recorded_before_it_is_forwarded_and_answered_masked() {
    let host = Arc::new(MemoryHost::new());
    let up = upstream(&host, vec![vec![result(1, "card 4111 1111 1111 1111")]]);
    let mut client = Collected::default();
    let req = Request::new(eng(), tool_call(1, "query", json!({"sql": "select 1"})));
    let outcome = call(&*host, ROUTE, &up, req, &mut client).await;
    assert_eq!(outcome, Outcome::Ok);
    let seen = up.seen.lock().unwrap();
    assert_eq!(
        seen[0].1, 1,
        "the request was durable before the upstream saw it"
    );
    assert!(
        seen[0].0.to_json().contains("select 1"),
        "forwarded as sent"
    );
    assert!(!client.answers[0].to_json().contains("4111"));
    assert_eq!(
        host.kinds(),
        ["client_to_server:request", "server_to_client:response"]
    );
    let request = &host.writes()[0][0];
    assert!(request.decision.as_deref().unwrap().contains("eng-query"));
    assert_eq!(host.writes()[1][0].masked(), Some(r#"{"credit_card":1}"#));
}

#[tokio::test]
async fn a_refused_call_never_reaches_the_upstream_and_is_recorded_with_its_refusal() {
    let host = Arc::new(MemoryHost::new());
    let up = upstream(&host, vec![]);
    let mut client = Collected::default();
    let req = Request::new(eng(), tool_call(1, "secret", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Denied
    );
    assert!(up.seen.lock().unwrap().is_empty());
    assert_eq!(host.writes().len(), 1, "request and refusal in one write");
    assert_eq!(host.kinds(), ["client_to_server:request", "gateway:error"]);
    let err = client.answers[0].error_value().unwrap();
    assert_eq!(err["data"]["gatehouse"], "denied_by_policy");
}

#[tokio::test]
async fn each_request_is_decided_and_masked_with_its_own_principal() {
    let host = Arc::new(MemoryHost::new());
    let up = upstream(
        &host,
        vec![
            vec![result(1, "mail ada@example.com")],
            vec![result(3, "mail ada@example.com")],
        ],
    );
    let mut client = Collected::default();
    let auditor = Principal::new("ada", ["eng", "auditors"]);
    let req = Request::new(auditor, tool_call(1, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Ok
    );
    assert!(
        client.answers[0].to_json().contains("ada@example.com"),
        "auditors see it"
    );

    // Removed from `auditors`: the next call is masked by the default profile.
    let req = Request::new(eng(), tool_call(3, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Ok
    );
    assert!(!client.answers[1].to_json().contains("ada@example.com"));

    // Removed from `eng` as well: the same call in the same session is refused.
    let nobody = Principal::new("ada", Vec::<String>::new());
    let req = Request::new(nobody, tool_call(4, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Denied
    );
    assert_eq!(up.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_held_call_waits_for_its_approvers() {
    let mut refused = MemoryHost::new();
    refused.hold = HoldOutcome::Refused {
        message: "approval `a1` was denied".into(),
        data: Some(json!({"approvalId": "a1"})),
    };
    let host = Arc::new(refused);
    let up = upstream(&host, vec![]);
    let mut client = Collected::default();
    let req = Request::new(
        eng(),
        tool_call(1, "drop", json!({"note": "mail ada@example.com"})),
    );
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Held
    );
    assert!(up.seen.lock().unwrap().is_empty(), "never forwarded");
    assert_eq!(
        client.waiting,
        ["waiting for approval `a1` by dba (0 of 1)"]
    );
    let (digest, args) = host.held.lock().unwrap()[0].clone();
    assert_eq!(
        args,
        json!({"note": "mail [EMAIL]"}),
        "approvers see masked arguments"
    );
    assert_eq!(digest.len(), 64);
    assert_eq!(
        client.answers[0].error_value().unwrap()["data"]["approvalId"],
        "a1"
    );
    assert_eq!(host.kinds(), ["client_to_server:request", "gateway:error"]);

    let host = Arc::new(MemoryHost::new());
    let up = upstream(&host, vec![vec![result(1, "dropped")]]);
    let mut client = Collected::default();
    let req = Request::new(eng(), tool_call(1, "drop", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Ok
    );

    let mut req = Request::new(eng(), tool_call(2, "drop", json!({})));
    req.in_batch = true;
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Denied
    );
    assert!(client.answers[1].to_json().contains("inside a batch"));
    assert_eq!(
        host.held.lock().unwrap().len(),
        1,
        "no approval asked in a batch"
    );
}

#[tokio::test]
async fn nothing_moves_unrecorded() {
    let mut full = MemoryHost::new();
    full.fail_after = Some(0);
    let host = Arc::new(full);
    let up = upstream(&host, vec![vec![result(1, "x")]]);
    let mut client = Collected::default();
    let req = Request::new(eng(), tool_call(1, "query", json!({})));
    let outcome = call(&*host, ROUTE, &up, req, &mut client).await;
    assert_eq!(
        outcome,
        Outcome::Unrecorded(RecordError("the disk is full".into()))
    );
    assert!(up.seen.lock().unwrap().is_empty() && client.answers.is_empty());

    let mut full = MemoryHost::new();
    full.fail_after = Some(1);
    let host = Arc::new(full);
    let up = upstream(&host, vec![vec![result(1, "secret answer")]]);
    let req = Request::new(eng(), tool_call(1, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::RecordFailed
    );
    let text = client.answers[0].to_json();
    assert!(
        text.contains("withheld") && !text.contains("secret answer"),
        "{text}"
    );
}

#[tokio::test]
async fn lists_show_what_a_person_may_use_and_pins_note_changes() {
    let host = Arc::new(MemoryHost::new());
    let list = |id: u64, description: &str| {
        msg(
            json!({"jsonrpc":"2.0","id":id,"result":{"tools":[{"name":"query","description":description},{"name":"secret"}]}}),
        )
    };
    let up = upstream(
        &host,
        vec![vec![list(1, "reads")], vec![list(2, "now writes")]],
    );
    let mut client = Collected::default();
    let ask = |id: u64| {
        Request::new(
            eng(),
            msg(json!({"jsonrpc":"2.0","id":id,"method":"tools/list"})),
        )
    };
    call(&*host, ROUTE, &up, ask(1), &mut client).await;
    let tools = &client.answers[0].result_value().unwrap()["tools"];
    assert_eq!(tools.as_array().unwrap().len(), 1, "{tools}");
    call(&*host, ROUTE, &up, ask(2), &mut client).await;
    assert!(host.kinds().contains(&"gateway:tool_changed".to_string()));
    let req = Request::new(eng(), tool_call(3, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Denied
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_upstream_times_out_and_a_departed_client_cancels() {
    let host = Arc::new(MemoryHost::new());
    let up = upstream(&host, vec![vec![], vec![]]);
    let mut client = Collected::default();
    let req = Request::new(eng(), tool_call(1, "query", json!({})));
    assert_eq!(
        call(&*host, ROUTE, &up, req, &mut client).await,
        Outcome::Timeout
    );
    assert!(client.answers[0].to_json().contains("within 30 s"));
    assert_eq!(host.kinds().last().unwrap(), "gateway:error");

    // (Without a time limit: paused time and the request's arrival time disagree.)
    let mut client = Collected {
        gone: true,
        ..Default::default()
    };
    let req = Request::new(eng(), tool_call(2, "query", json!({})));
    let unlimited = Route {
        timeout: None,
        ..ROUTE
    };
    assert_eq!(
        call(&*host, unlimited, &up, req, &mut client).await,
        Outcome::Cancelled
    );
    assert_eq!(host.kinds().last().unwrap(), "gateway:client_cancelled");
}

#[tokio::test]
async fn notifications_are_recorded_then_passed_on_and_server_messages_relayed() {
    let host = Arc::new(MemoryHost::new());
    let up = upstream(&host, vec![]);
    let mut client = Collected::default();
    let note = msg(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
    assert_eq!(
        call(&*host, ROUTE, &up, Request::new(eng(), note), &mut client).await,
        Outcome::Passed
    );
    assert_eq!(up.seen.lock().unwrap()[0].1, 1, "recorded first");
    assert!(host.writes()[0][0].decision.is_none());

    let log = msg(
        json!({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"card 4111 1111 1111 1111"}}),
    );
    let masking = host.masking(&eng());
    assert!(relay(&*host, "s1", &masking, log, &mut client).await);
    assert!(!client.answers[0].to_json().contains("4111"));
    assert_eq!(
        host.kinds().last().unwrap(),
        "server_to_client:notification"
    );
}
