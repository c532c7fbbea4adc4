//! One call, every stage in order: the function a reader opens to learn the path of a
//! call through Gatehouse, in the gateway and in the tray's local capture alike.

use crate::answer::{self, Awaiting, Client};
use crate::approval::{Approvals, Held, HoldOutcome};
use crate::classify::{Call, Target, classify};
use crate::decide::{self, PolicyInForce, Verdict};
use crate::lists;
use crate::mask::{Masked, Masking};
use crate::pins::{self, ToolPins};
use crate::record::{Direction, Record, RecordError, Records};
use crate::upstream::{Exchange, Upstream};
use gatehouse_policy::Principal;
use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
// Each stage runs in a trace span of its own (`stage_span!`), a child of the request's
// span the host made; with tracing off these are disabled and cost a cached check.
use gatehouse_proxy_core::stage_span;

/// What a host knows about rights: the policy in force now and the masking profile of a
/// person. Asked on every request, so a change (a new policy version, a person removed
/// from a group) applies to the next call.
pub trait Rights: Send + Sync {
    /// The policy in force (`None`: every signed-in person may use every server).
    fn policy(&self) -> Option<Arc<PolicyInForce>>;

    /// The masking for `principal` on this host's server.
    fn masking(&self, principal: &Principal) -> Masking;
}

/// Everything a host supplies to the pipeline besides the upstream and the client.
pub trait Host: Rights + Records + Approvals + ToolPins {}

impl<T: Rights + Records + Approvals + ToolPins> Host for T {}

/// Where a call goes.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The session it belongs to (records are kept under it).
    pub session_id: &'a str,
    /// The server, as policies name it.
    pub server: &'a str,
    /// How long the upstream may take to answer (`None`: as long as it takes).
    pub timeout: Option<Duration>,
}

/// One client message with the person whose token came with it: each request is
/// decided and masked with its own principal, not the one its session opened with.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who sends it (from this request's token).
    pub principal: Principal,
    /// The message as the client sent it.
    pub message: Message,
    /// When it arrived (the upstream's time limit counts from here).
    pub received: Instant,
    /// True inside a JSON-RPC batch, where a call cannot wait for approval.
    pub in_batch: bool,
}

impl Request {
    /// A message that arrived now, on its own.
    pub fn new(principal: Principal, message: Message) -> Request {
        Request {
            principal,
            message,
            received: Instant::now(),
            in_batch: false,
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by the server.
    Ok,
    /// The server answered with an error.
    Error,
    /// Refused by policy or a pin; never forwarded.
    Denied,
    /// Held for approval and not (yet) approved; never forwarded.
    Held,
    /// The server could not take it, or went away before answering.
    UpstreamFailure,
    /// The server did not answer in time.
    Timeout,
    /// The client went away, which cancelled it.
    Cancelled,
    /// A server message could not be recorded; the client got an error instead.
    RecordFailed,
    /// A message that expects no answer, recorded and passed on.
    Passed,
    /// The call could not be recorded, so nothing moved and nothing was answered: the
    /// host answers with [`answer::unrecorded`] in its own framing.
    Unrecorded(RecordError),
}

impl Outcome {
    /// The outcome's name in metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Denied => "denied",
            Outcome::Held => "held",
            Outcome::UpstreamFailure => "upstream_failure",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::RecordFailed => "record_failed",
            Outcome::Passed => "passed",
            Outcome::Unrecorded(_) => "unrecorded",
        }
    }
}

/// Moves one client message through every stage, in this order.
pub async fn call(
    host: &impl Host,
    route: Route<'_>,
    upstream: &impl Upstream,
    request: Request,
    client: &mut impl Client,
) -> Outcome {
    let Request {
        principal,
        message,
        received,
        in_batch,
    } = request;
    // The rights of this request: its own principal picks the masking profile (and, below,
    // the decision), so a person removed from a group loses that group's rights at once.
    let masking = host.masking(&principal);

    // Classify: read once what is asked, so the decision, the approval and the record all
    // see the same call. Messages that expect no answer are recorded and passed on.
    let target = match classify(&message) {
        Call::Request(target) => target,
        Call::Passing => return pass(host, route, upstream, message, &masking).await,
    };

    // Decide: the policy in force now, for this principal; then the tool pins, which can
    // only tighten. Before the record, so the record carries the decision.
    let decide_span = stage_span!("decide", gatehouse.decision = tracing::field::Empty);
    let policy = host.policy();
    let decision = {
        let _in = decide_span.enter();
        decide::decide(policy.as_deref(), &principal, route.server, &target)
    };
    let mut decision = pins::hold_back(host, route.server, &target, decision)
        .instrument(decide_span.clone())
        .await;
    if in_batch && matches!(decision.verdict, Verdict::NeedsApproval(_)) {
        decision = decision.refused(
            "this call needs approval, which cannot be requested inside a batch; send it on its own".into(),
        );
    }
    decide_span.record("gatehouse.decision", decision.verdict.name());
    drop(decide_span);

    // Record the request, masked (its decision too: a refusal's reason can quote the
    // call): durable before anything moves on, so nothing is ever forwarded (or
    // refused) unrecorded. A refusal is recorded with its request at once.
    let decision = masking.decision(decision);
    let request_record = Record::client(
        route.session_id,
        &message,
        &masking.client_record(&message),
        Some(&decision),
    );
    let decision = decision.into_inner();
    if let Verdict::Deny { reason } = &decision.verdict {
        let refusal = answer::refusal(
            message.id(),
            reason,
            Some(json!({ "gatehouse": "denied_by_policy" })),
        );
        return answer_ourselves(
            host,
            route,
            client,
            Some(request_record),
            refusal,
            Outcome::Denied,
        )
        .await;
    }
    if let Err(e) = host
        .keep(vec![request_record])
        .instrument(stage_span!("record", gatehouse.record = "request"))
        .await
    {
        return Outcome::Unrecorded(e);
    }

    // Hold for approval: after the record (the approval refers to a recorded request),
    // before the upstream sees anything.
    if let Verdict::NeedsApproval(terms) = &decision.verdict {
        let held = Held {
            session_id: route.session_id,
            server: route.server,
            principal: &principal,
            message: &message,
            target: &target,
            terms,
            digest: target.digest(route.server),
            arguments: masking.value(target.arguments.clone()),
            decision: decision.record(),
        };
        client.awaiting(Awaiting::Approval).await;
        let outcome = host
            .hold(held, client)
            .instrument(stage_span!("hold"))
            .await;
        if let HoldOutcome::Refused { message: why, data } = outcome {
            let refusal = answer::refusal(message.id(), &why, data);
            return answer_ourselves(host, route, client, None, refusal, Outcome::Held).await;
        }
    }

    // Forward: the upstream gets the call exactly as the client sent it.
    let id = message.id().cloned();
    // The upstream stage lasts until the response arrives: its span is what the
    // upstream (or the agent) is told to continue.
    let mut upstream_span = Some(stage_span!("upstream"));
    let forwarded = upstream
        .request(message)
        .instrument(upstream_span.clone().unwrap_or_else(tracing::Span::none))
        .await;
    let mut exchange = match forwarded {
        Ok(exchange) => {
            client.awaiting(Awaiting::Upstream).await;
            exchange
        }
        Err(e) => {
            let failure = answer::unavailable(id.as_ref(), route.server, &e);
            return answer_ourselves(host, route, client, None, failure, Outcome::UpstreamFailure)
                .await;
        }
    };

    // Then every message the upstream sends for this call, until its response.
    loop {
        let next = next_from(
            route,
            &target,
            &mut exchange,
            received,
            &*client,
            id.as_ref(),
        );
        let next = next.instrument(upstream_span.clone().unwrap_or_else(tracing::Span::none));
        let Some((mut msg, failure)) = next.await else {
            return cancelled(host, route, &target, id.as_ref()).await;
        };
        let done = msg.is_response();
        if done {
            upstream_span = None;
        }

        // Filter lists (the decision, on the way back): a person sees only what they may
        // use; tool pins note changed definitions before anyone is shown them.
        let mut notes = Vec::new();
        if done && msg.result_value().is_some() {
            if target.method == "tools/list" {
                notes = pins::observe_list(host, route.session_id, route.server, &msg).await;
            }
            lists::filter(
                policy.as_deref(),
                &principal,
                route.server,
                &target.method,
                &mut msg,
            );
        }

        // Mask: before the record and the client see it; only masked data is stored or shown.
        let masked = {
            let _in = stage_span!("mask").entered();
            masking.from_server(msg, done.then_some(target.method.as_str()))
        };

        // Record: durable before it is released; what cannot be recorded is withheld.
        let direction = match failure {
            Some(_) => Direction::Gateway,
            None => Direction::ServerToClient,
        };
        notes.insert(0, Record::message(route.session_id, direction, &masked));
        let kept = host
            .keep(notes)
            .instrument(stage_span!("record", gatehouse.record = "answer"))
            .await;
        if let Err(e) = kept {
            tracing::error!(session = route.session_id, error = %e, "withholding an upstream message that could not be recorded");
            let _ = client.answer(answer::withheld(id.as_ref(), &e)).await;
            return Outcome::RecordFailed;
        }

        // Answer: release it to the client.
        let outcome = match &failure {
            Some(f) => f.clone(),
            None if masked.get().error_value().is_some() => Outcome::Error,
            None => Outcome::Ok,
        };
        if !client.answer(masked).await {
            return cancelled(host, route, &target, id.as_ref()).await;
        }
        if done {
            return outcome;
        }
    }
}

/// The next upstream message of a call, with the failure it stands for when Gatehouse
/// made it up (the connection closed, time ran out, the upstream module failed);
/// `None` when the client went away first.
async fn next_from(
    route: Route<'_>,
    target: &Target,
    exchange: &mut impl Exchange,
    received: Instant,
    client: &impl Client,
    id: Option<&Id>,
) -> Option<(Message, Option<Outcome>)> {
    let upstream = async {
        match route.timeout {
            Some(limit) => tokio::time::timeout_at((received + limit).into(), exchange.next())
                .await
                .map_err(|_| limit),
            None => Ok(exchange.next().await),
        }
    };
    let next = tokio::select! {
        next = upstream => next,
        () = client.gone() => return None,
    };
    Some(match next {
        Ok(Some(m)) => {
            let failed = m
                .error_value()
                .and_then(|e| e.get("code"))
                .and_then(|c| c.as_i64())
                == Some(codes::UPSTREAM_ERROR);
            (m, failed.then_some(Outcome::UpstreamFailure))
        }
        Ok(None) => (
            answer::closed(id, route.server),
            Some(Outcome::UpstreamFailure),
        ),
        Err(limit) => (
            answer::timed_out(id, route.server, &target.method, limit),
            Some(Outcome::Timeout),
        ),
    })
}

/// A message that expects no answer: recorded (masked), then passed on.
async fn pass(
    host: &impl Records,
    route: Route<'_>,
    upstream: &impl Upstream,
    message: Message,
    masking: &Masking,
) -> Outcome {
    let record = Record::client(
        route.session_id,
        &message,
        &masking.client_record(&message),
        None,
    );
    if let Err(e) = host.keep(vec![record]).await {
        return Outcome::Unrecorded(e);
    }
    if let Err(e) = upstream.send(message).await {
        tracing::warn!(session = route.session_id, error = %e, "could not pass a client message upstream");
        return Outcome::UpstreamFailure;
    }
    Outcome::Passed
}

/// Gatehouse answers in the server's place: the answer is kept (with the request's record,
/// when that is not kept yet), then released.
async fn answer_ourselves(
    host: &impl Records,
    route: Route<'_>,
    client: &mut impl Client,
    request_record: Option<Record>,
    answer: Masked<Message>,
    outcome: Outcome,
) -> Outcome {
    let answer_record = Record::message(route.session_id, Direction::Gateway, &answer);
    let records = request_record.into_iter().chain([answer_record]).collect();
    let kept = host
        .keep(records)
        .instrument(stage_span!("record", gatehouse.record = "answer"))
        .await;
    if let Err(e) = kept {
        return Outcome::Unrecorded(e);
    }
    client.answer(answer).await;
    outcome
}

/// Records that the client went away, which cancelled the call (dropping the exchange
/// tells the upstream), so the record says why the call has no answer.
async fn cancelled(
    host: &impl Records,
    route: Route<'_>,
    target: &Target,
    id: Option<&Id>,
) -> Outcome {
    let note = Record::note(
        route.session_id,
        "client_cancelled",
        json!({ "request": id.map(Id::to_value), "method": target.method }),
    );
    let _ = host.keep(vec![note]).await;
    Outcome::Cancelled
}

/// A message the upstream sent on its own (logs, list changes, server requests): masked
/// with the session's masking, recorded, then released. `false` when it could not be
/// recorded (it is withheld).
pub async fn relay(
    host: &impl Records,
    session_id: &str,
    masking: &Masking,
    msg: Message,
    client: &mut impl Client,
) -> bool {
    let masked = masking.from_server(msg, None);
    let record = Record::message(session_id, Direction::ServerToClient, &masked);
    if let Err(e) = host.keep(vec![record]).await {
        tracing::error!(session = session_id, error = %e, "withholding a server message that could not be recorded");
        return false;
    }
    client.answer(masked).await;
    true
}
