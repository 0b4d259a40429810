# syntax=docker/dockerfile:1
# The TicketBoss API: compiled JavaScript (dist/), the console's page (packages/http-api/console), production
# dependencies and migrations/ on plain Node.js, as a non-root user. It needs DATABASE_URL: the embedded PostgreSQL
# of `pnpm start` is not in the image.
# .ci/verify-dist runs these stages' commands on a machine without Docker; keep the two in step.

ARG NODE_IMAGE=node:24-slim

# pnpm at the version package.json pins, and every package the lockfile names fetched into pnpm's store, so that
# only the lockfile (or the pin) invalidates these layers. The node_modules that `pnpm fetch` also fills is removed:
# it holds the dev dependencies too, and the prod stage starts from this one.
FROM ${NODE_IMAGE} AS pnpm
ENV CI=true
WORKDIR /app
COPY package.json ./
RUN npm install -g "pnpm@$(node -p "require('./package.json').packageManager.replace(/^pnpm@/, '').split('+')[0]")" --no-audit --no-fund
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch && rm -rf node_modules

# All dependencies, then tsc: packages/*/dist.
FROM pnpm AS build
COPY tsconfig.base.json ./
COPY packages packages
RUN pnpm install --offline --frozen-lockfile
RUN pnpm build

# What the final image copies: the API's production dependencies (no dev dependencies, no optional ones: that
# leaves out embedded-postgres and its binaries), the compiled packages, the console's static files (served from
# beside dist/, uPlot from its installed package), and the migrations read at start.
FROM pnpm AS prod
COPY packages/domain/package.json packages/domain/
COPY packages/adapters-postgres/package.json packages/adapters-postgres/
COPY packages/http-api/package.json packages/http-api/
RUN pnpm install --offline --frozen-lockfile --prod --no-optional --filter '@ticketboss/http-api...'
COPY --from=build /app/packages/domain/dist packages/domain/dist
COPY --from=build /app/packages/adapters-postgres/dist packages/adapters-postgres/dist
COPY --from=build /app/packages/http-api/dist packages/http-api/dist
COPY packages/http-api/console packages/http-api/console
COPY migrations migrations

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Owned by root: the process reads these files and cannot change them; it writes nothing to its own folder.
COPY --from=prod /app ./
USER node
EXPOSE 3000
# Liveness only (GET /health); there is no curl in the slim image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.PORT + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "packages/http-api/dist/server/main.js"]
