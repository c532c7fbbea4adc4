import { useEffect, useRef, useState } from "react";

export type LiveState = "connecting" | "live" | "reconnecting";

/**
 * Subscribes to a Server-Sent Events stream (cookie auth, same origin) and hands each
 * `event` message's parsed data to `onData`. EventSource reconnects by itself; the state
 * tells the person whether what they see is live.
 */
export function useEventSource<T>(url: string, event: string, onData: (data: T) => void): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  const handler = useRef(onData);
  handler.current = onData;
  useEffect(() => {
    const es = new EventSource(url, { withCredentials: true });
    const onMessage = (m: MessageEvent<string>) => {
      try {
        handler.current(JSON.parse(m.data) as T);
        setState("live");
      } catch {
        // a malformed frame is skipped; the next change sends the whole list again
      }
    };
    es.addEventListener(event, onMessage as EventListener);
    es.onopen = () => setState("live");
    es.onerror = () => setState(es.readyState === EventSource.CLOSED ? "reconnecting" : "reconnecting");
    return () => {
      es.removeEventListener(event, onMessage as EventListener);
      es.close();
    };
  }, [url, event]);
  return state;
}
