# syntax=docker/dockerfile:1
# One image for every role: PHOS_ROLE=api|worker|all picks what the process runs.
# Production expects DATABASE_URL and REDIS_URL (see docker-compose.yml); the image has no
# redis-server, so the embedded mode is for `npm start` on a workstation, not for this image.

# Node 24, the current LTS (as .nvmrc); the README lists the supported versions.
ARG NODE_IMAGE=node:24-bookworm-slim

# Workspace manifests and the lockfile only, so dependency layers survive source edits.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/shared/package.json packages/shared/
COPY apps/server/package.json apps/server/
COPY apps/web/package.json apps/web/
COPY e2e/package.json e2e/

FROM manifests AS build
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY packages/shared packages/shared
COPY apps/server apps/server
COPY apps/web apps/web
RUN npm run build -w @phos/web

FROM manifests AS runtime-deps
# The server's production dependencies only (tsx included: it runs from its TypeScript sources);
# the web app ships as the static files built above.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --workspace @phos/server --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    PHOS_DATA_DIR=/app/.data \
    PHOS_WEB_DIR=/app/apps/web/dist
WORKDIR /app
COPY --from=runtime-deps /app ./
COPY tsconfig.base.json ./
COPY packages/shared packages/shared
COPY apps/server apps/server
COPY drizzle drizzle
COPY --from=build /app/apps/web/dist apps/web/dist
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
EXPOSE 3000
# Liveness only: /readyz (database, Redis, worker) is for the orchestrator's routing decisions.
# A worker-only container has no HTTP server; docker-compose.yml overrides this check for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# `node --import tsx` (not `npx tsx`): node is PID 1 itself and receives SIGTERM directly.
CMD ["node", "--import", "tsx", "apps/server/src/main.ts"]
