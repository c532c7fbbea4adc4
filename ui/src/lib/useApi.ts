import { useCallback, useEffect, useRef, useState } from "react";
import { get } from "../api";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** GETs `path` (none when null), again whenever it changes or `reload` is called. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean; path: string | null }>({
    data: undefined,
    error: undefined,
    loading: path !== null,
    path,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const current = useRef(path);
  current.current = path;

  useEffect(() => {
    if (path === null) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: undefined, path, data: s.path === path ? s.data : undefined }));
    get<T>(path, ctl.signal).then(
      (data) => {
        if (current.current === path) setState({ data, error: undefined, loading: false, path });
      },
      (error: unknown) => {
        if (error instanceof DOMException && error.name === "AbortError") return;
        if (current.current === path) setState((s) => ({ ...s, error, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [path, tick]);

  return { data: state.data, error: state.error, loading: state.loading, reload };
}
