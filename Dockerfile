# One static binary (no cgo), on a minimal base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /pagemill ./cmd/pagemill

FROM gcr.io/distroless/static-debian12
COPY --from=build /pagemill /pagemill
ENTRYPOINT ["/pagemill"]
