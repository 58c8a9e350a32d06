module github.com/featflags/fbclient/examples/openfeature

go 1.26.0

require (
	github.com/featflags/fbclient v0.0.0
	github.com/featflags/fbclient/openfeature v0.0.0
	github.com/open-feature/go-sdk v1.20.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/dlclark/regexp2 v1.12.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	go.uber.org/mock v0.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)

replace (
	github.com/featflags/fbclient => ../..
	github.com/featflags/fbclient/openfeature => ../../openfeature
)
