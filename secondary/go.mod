module github.com/replog/replog/secondary

go 1.26

require (
	github.com/coder/websocket v1.8.15
	github.com/go-chi/chi/v5 v5.5.0
	github.com/kelseyhightower/envconfig v1.4.0
	github.com/replog/replog/shared v0.0.0
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require go.uber.org/multierr v1.10.0 // indirect

replace github.com/replog/replog/shared => ../shared
