module example.com/evil

go 1.26
