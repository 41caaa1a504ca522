import socket
output = socket.getaddrinfo("example.com", 80)
