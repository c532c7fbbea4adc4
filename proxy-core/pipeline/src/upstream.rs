//! Forward: how the upstream is reached is the host's ([`Upstream`]): the gateway's
//! session connection (direct, through an agent, or bridged across protocol eras), the
//! tray's stdio process.

use gatehouse_proxy_core::jsonrpc::Message;
use std::future::Future;

/// The upstream of one session.
pub trait Upstream: Send + Sync {
    /// What a forwarded request's messages come back on.
    type Exchange: Exchange;

    /// Forwards a request; `Err` says why the server could not take it.
    fn request(&self, msg: Message) -> impl Future<Output = Result<Self::Exchange, String>> + Send;

    /// Passes on a message that expects no answer (a notification, a response to a
    /// server request).
    fn send(&self, msg: Message) -> impl Future<Output = Result<(), String>> + Send;
}

/// The messages of one forwarded request: related ones (progress, server requests),
/// then its response. Dropping it before the response cancels the request upstream.
pub trait Exchange: Send {
    /// The next message; `None` when the connection closed first.
    fn next(&mut self) -> impl Future<Output = Option<Message>> + Send;
}
