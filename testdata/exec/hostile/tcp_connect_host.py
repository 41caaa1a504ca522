import socket
s = socket.create_connection(("127.0.0.1", input["port"]), timeout=2)
s.sendall(b"leak " + input["marker"].encode())
output = "connected"
