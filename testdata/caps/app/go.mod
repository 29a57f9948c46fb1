module example.com/app

go 1.26

require example.com/evil v0.0.0

replace example.com/evil => ../evil
