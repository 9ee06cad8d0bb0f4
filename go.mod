module github.com/fireflyrpc/firefly

go 1.26
