# The Spool agent (`npm start`): HTTP API on 8080, Kafka protocol on 9092. The CDK stack builds this
# image for its optional Fargate agents; `docker build -t spool .` builds it by hand.
FROM public.ecr.aws/docker/library/node:22-slim AS build
WORKDIR /spool
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib lib
COPY bin bin
COPY functions functions
RUN npx tsc -p tsconfig.build.json

FROM public.ecr.aws/docker/library/node:22-slim
WORKDIR /spool
ENV NODE_ENV=production SPOOL_HOST=0.0.0.0
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /spool/dist dist
USER node
EXPOSE 8080 9092
# Exec form, so node is PID 1 and gets `docker stop`'s SIGTERM itself (a shell would not pass it on);
# the agent handles it from before its startup (lib/cli/serve.ts). test/cli/stop.test.ts runs this CMD.
CMD ["node", "dist/bin/agent.js"]
