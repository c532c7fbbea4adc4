//! The exporter's HTTP client: the process's own reqwest (rustls), so tracing adds no
//! second HTTP or TLS stack.

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};

/// Sends on the tokio runtime the exporter was made on: the SDK's batch processor
/// exports from a thread of its own, outside any runtime.
#[derive(Debug)]
pub(crate) struct RuntimeClient {
    pub http: reqwest::Client,
    pub runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let http = self.http.clone();
        let sent = self.runtime.spawn(async move {
            let request = reqwest::Request::try_from(request)?;
            let answer = http.execute(request).await?;
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await?;
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Ok::<_, HttpError>(response)
        });
        sent.await?
    }
}
