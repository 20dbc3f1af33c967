package ops

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogConfig selects the log format and level.
type LogConfig struct {
	Level  string // debug, info, warn, error
	Format string // text or json
}

// NewLogger builds a slog.Logger writing to w.
func NewLogger(w io.Writer, cfg LogConfig) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(cfg.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("invalid log level %q: want debug, info, warn or error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("invalid log format %q: want text or json", cfg.Format)
	}
}

// DiscardLogger returns a logger that drops everything, for tests and tools.
func DiscardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
