package socketapi

import (
	"errors"
	"log/slog"
	"os"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

func osGetuid() int { return os.Getuid() }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
