# Builds the server with bundled libpq and SQLite: no system libraries needed at run time.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin huddle

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/huddle huddle && mkdir -p /var/lib/huddle && chown huddle /var/lib/huddle
COPY --from=build /src/target/release/huddle /usr/local/bin/huddle
USER huddle
WORKDIR /var/lib/huddle
ENV HUDDLE_HOST=0.0.0.0 HUDDLE_PORT=8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/huddle"]
