i = 0
block = b"\0" * (1 << 20)
while True:
    with open("/tmp/fill%d" % i, "wb") as f:
        while True:
            f.write(block)
    i += 1
