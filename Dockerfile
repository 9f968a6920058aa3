# The gateway serving the seed's site: docker build -t gateway . && docker run -p 8080:8080 gateway
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY conf ./conf
COPY public ./public
COPY handlers ./handlers
EXPOSE 8080
CMD ["node", "bin/gateway", "-c", "conf/site.yaml"]
