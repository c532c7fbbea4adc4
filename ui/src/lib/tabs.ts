import type { KeyboardEvent } from "react";

/** Arrow keys, Home and End move between the tabs of a tablist and select the one reached. */
export function onTabKeys(e: KeyboardEvent<HTMLElement>) {
  const tabs = [...e.currentTarget.querySelectorAll<HTMLButtonElement>('[role="tab"]:not(:disabled)')];
  const at = tabs.findIndex((t) => t === document.activeElement);
  if (at < 0) return;
  let next = at;
  if (e.key === "ArrowRight") next = (at + 1) % tabs.length;
  else if (e.key === "ArrowLeft") next = (at - 1 + tabs.length) % tabs.length;
  else if (e.key === "Home") next = 0;
  else if (e.key === "End") next = tabs.length - 1;
  else return;
  e.preventDefault();
  tabs[next]?.focus();
  tabs[next]?.click();
}
