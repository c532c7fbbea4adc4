//! Server-Sent Events: a streaming decoder for upstream responses and an encoder for
//! the streams the gateway serves. Only what MCP uses: `event`, `data`, `id`, `retry`.

/// One decoded event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `event:` field; `None` means the default type "message".
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The `id:` field, used for resumption with `Last-Event-ID`.
    pub id: Option<String>,
}

/// Incremental decoder: feed bytes as they arrive, take complete events out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    current: Event,
    has_data: bool,
}

impl Decoder {
    /// Adds bytes and returns every event completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(pos) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos;
            let mut line = &self.buf[start..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            self.line(&line, &mut out);
        }
        self.buf.drain(..start);
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.has_data {
                out.push(std::mem::take(&mut self.current));
            } else {
                // An event without data is not dispatched, but its id still counts.
                let id = self.current.id.take();
                self.current = Event {
                    id,
                    ..Event::default()
                };
            }
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = Some(value.to_string()),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" => self.current.id = Some(value.to_string()),
            _ => {}
        }
    }
}

/// Encodes one event (data may span lines).
pub fn encode(event: Option<&str>, id: Option<&str>, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 32);
    if let Some(e) = event {
        s.push_str("event: ");
        s.push_str(e);
        s.push('\n');
    }
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_across_chunk_boundaries() {
        let mut d = Decoder::default();
        assert!(d.feed(b"event: message\nid: 1\ndata: {\"a\"").is_empty());
        let evs = d.feed(b":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\n");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].data, "{\"a\":1}");
        assert_eq!(evs[0].id.as_deref(), Some("1"));
        assert_eq!(evs[1].data, "x\ny");
    }

    #[test]
    fn encode_round_trips() {
        let mut d = Decoder::default();
        let evs = d.feed(encode(Some("endpoint"), Some("7"), "a\nb").as_bytes());
        assert_eq!(
            evs,
            vec![Event {
                event: Some("endpoint".into()),
                data: "a\nb".into(),
                id: Some("7".into())
            }]
        );
    }
}
