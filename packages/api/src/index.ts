export { type ApiDeps, createApp, type UpdraftApp } from './app.ts';
export { createHealthApp, type HealthOptions } from './health.ts';
export { serveApp } from './serve.ts';
