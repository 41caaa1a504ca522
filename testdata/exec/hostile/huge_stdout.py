import sys
chunk = "z" * 65536
while True:
    sys.stdout.write(chunk)
