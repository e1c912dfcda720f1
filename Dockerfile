# hsm2kms: one image for the worker, the status exporter and the other commands. It does not ship the testkit
# (src/testkit, see .dockerignore): the `kms-emulator` and `sandbox` commands need a clone of the repository (or,
# in docker-compose.yml, src/testkit mounted at /app/src/testkit).
# Build stage: pkcs11js is a native addon, compiled by node-gyp during `npm ci`.
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# The sources run through tsx (a runtime dependency): no TypeScript build step, no dev dependencies.
RUN npm ci --omit=dev --no-audit --no-fund

# Runtime stage: no compiler. softhsm2 is only for the sandbox token; on a CloudHSM client host the worker
# runs from systemd (deploy/systemd) with the CloudHSM PKCS#11 library instead.
FROM node:22-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends softhsm2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hsm2kms \
 && useradd --system --uid 10001 --gid hsm2kms --home-dir /home/hsm2kms --create-home hsm2kms \
 && install -d -o hsm2kms -g hsm2kms -m 0700 /sandbox
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
# Node 22 LTS (package.json engines: 22 or 24); Node 20 reached end of life in April 2026.
ENV NODE_ENV=production
USER hsm2kms
# 9464: a worker's /metrics; 9465: the status exporter's; 4599: the KMS emulator.
EXPOSE 9464 9465 4599
ENTRYPOINT ["node", "bin/hsm2kms.js"]
CMD ["--help"]
