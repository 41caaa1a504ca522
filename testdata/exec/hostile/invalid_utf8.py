import sys
sys.stdout.flush()
sys.stdout.buffer.write(b"bad \xff\xfe bytes \xc3\n")
sys.stdout.buffer.flush()
