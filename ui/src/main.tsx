import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { startEarly } from "./api";
import { sessionsPath } from "./pages/Sessions";
import "./styles.css";

// The Sessions list is the page people land on most; fetch it alongside the sign-in check.
if (window.location.pathname === "/sessions") startEarly(sessionsPath(new URLSearchParams(window.location.search)));

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
