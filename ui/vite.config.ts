import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API and sign-in to a running control plane
// (GATEHOUSE_URL, default http://127.0.0.1:8080), so the dashboard is developed against the real API.
const target = process.env.GATEHOUSE_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", assetsDir: "assets", sourcemap: false, emptyOutDir: true },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": { target, changeOrigin: false },
      "/auth": { target, changeOrigin: false },
    },
  },
});
