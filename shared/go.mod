module github.com/replog/replog/shared

go 1.26

require (
	github.com/coder/websocket v1.8.15
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect
