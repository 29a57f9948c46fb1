module example.com/backdoor

go 1.26
