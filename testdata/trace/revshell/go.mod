module example.com/revshell

go 1.26

require example.com/backdoor v0.0.0

replace example.com/backdoor => ../backdoor
