//! The in-process cost of moving one `tools/call` with a ~1 KB result through the
//! gateway's message path: decode the client body, register it (id remapping), route
//! the upstream answer back to it, and encode it for the client (JSON and SSE).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_proxy_core::jsonrpc::{Body, Message};
use gatehouse_proxy_core::sse;
use gatehouse_proxy_core::upstream::Router;
use std::hint::black_box;
use tokio::sync::mpsc;

fn request() -> Vec<u8> {
    br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"query","arguments":{"sql":"select * from customers where id = 7"},"_meta":{"progressToken":"p-42"}}}"#.to_vec()
}

fn answer(upstream_id: u64) -> Vec<u8> {
    let text = "x".repeat(1000);
    format!(r#"{{"jsonrpc":"2.0","id":{upstream_id},"result":{{"content":[{{"type":"text","text":"{text}"}}],"isError":false}}}}"#).into_bytes()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (stx, _srx) = mpsc::channel(1024);
    let (ctx, _crx) = mpsc::unbounded_channel();
    let router = Router::new(stx, ctx);
    let req = request();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_register_route_encode_1KB", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut msg = Body::decode(black_box(&req))
                    .expect("decode")
                    .into_messages()
                    .remove(0);
                let mut exchange = router.register(&mut msg).expect("register");
                let up = exchange.upstream_id();
                let _wire = black_box(msg.to_json());
                let back = Body::decode(&answer(up))
                    .expect("decode answer")
                    .into_messages()
                    .remove(0);
                router.route(back).await;
                let resp: Message = exchange.next().await.expect("response");
                black_box(resp.to_json())
            })
        })
    });
    g.bench_function("sse_encode_1KB", |b| {
        let body = String::from_utf8(answer(1)).expect("utf8");
        b.iter(|| black_box(sse::encode(Some("message"), Some("17"), black_box(&body))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
