module example.com/goapp

go 1.22

require (
	github.com/tidwall/gjson v1.6.5
	golang.org/x/crypto v0.0.0-20190308221718-c2843e01d9a2
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859
	golang.org/x/text v0.3.0
	gopkg.in/yaml.v2 v2.2.7
)

require (
	github.com/tidwall/match v1.0.3 // indirect
	github.com/tidwall/pretty v1.0.2 // indirect
)
