# Static binaries (CGO off) on a distroless, non-root base. Rules, flows and
# prompts ship as defaults; mount /etc/smsgw/smsgw.yaml (and secrets) to run.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/ ./cmd/smsgw ./cmd/ivr ./cmd/smscsim

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
COPY rules/ /etc/smsgw/rules/
COPY config/ /etc/smsgw/config/
COPY prompts/ /usr/share/ivr/prompts/
USER nonroot:nonroot
EXPOSE 9123 2775 5060/udp 5060/tcp
ENTRYPOINT ["/usr/local/bin/smsgw"]
CMD ["run", "--config", "/etc/smsgw/smsgw.yaml"]
