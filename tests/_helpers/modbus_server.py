#!/usr/bin/python3
"""Three Modbus slaves (unit ids 1, 2, 3) holding known values, for edgelog's modbus source tests.

Written for Debian's python3-pymodbus 3.0.0. Usage:
  modbus_server.py tcp          Modbus TCP on a free 127.0.0.1 port
  modbus_server.py rtu-tcp      RTU framing over TCP (what serial gateways speak)
  modbus_server.py rtu DEVICE BAUD PARITY STOP   RTU on a serial line (e.g. 19200 N 2; a pty refuses parity)
Prints one JSON line ({"port": N} or {"ready": true}) once it serves. Commands on standard input:
"stop N" makes slave N silent (it no longer answers, like a device that lost power); end of input
stops the server, so it never outlives the test that started it.

Values are packed with struct and put in wire order here, independently of edgelog's decoder.
"""

import asyncio
import json
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer

# (address, struct format, value, order): order letters name the value's big-endian bytes
# (A = most significant), written in wire order, as in the register map's "order".
HOLDING_1 = [
    (0, ">h", -1234, "AB"),
    (1, ">H", 54321, "AB"),
    (2, ">f", 21.5, "ABCD"),
    (4, ">f", -3.25, "CDAB"),
    (6, ">i", -123456789, "BADC"),
    (8, ">I", 3000000000, "DCBA"),
    (10, ">d", 1013.25, "ABCDEFGH"),
    (18, ">h", 215, "AB"),
]
INPUT_1 = [(0, ">H", 500, "AB")]
COILS_1 = [1, 0, 1, 1]
HOLDING_2 = [(0, ">H", 7, "AB"), (1, ">H", 8, "AB")]
HOLDING_3 = [(0, ">h", -30, "AB")]


def registers(size, values):
    words = [0] * size
    for address, fmt, value, order in values:
        raw = struct.pack(fmt, value)
        wire = bytes(raw[ord(c) - ord("A")] for c in order)
        for i in range(0, len(wire), 2):
            words[address + i // 2] = (wire[i] << 8) | wire[i + 1]
    return words


def slave(holding, inputs=(), coils=()):
    # zero_mode: address N on the wire is element N of the block (pymodbus otherwise adds 1).
    return ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, registers(30, holding)),
        ir=ModbusSequentialDataBlock(0, registers(10, list(inputs))),
        co=ModbusSequentialDataBlock(0, list(coils) + [0] * (16 - len(coils))),
        di=ModbusSequentialDataBlock(0, [0] * 16),
        zero_mode=True,
    )


async def main():
    mode = sys.argv[1]
    context = ModbusServerContext(
        slaves={1: slave(HOLDING_1, INPUT_1, COILS_1), 2: slave(HOLDING_2), 3: slave(HOLDING_3)},
        single=False,
    )
    if mode == "rtu":
        server = ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=sys.argv[2], baudrate=int(sys.argv[3]),
            parity=sys.argv[4], stopbits=int(sys.argv[5]), bytesize=8, ignore_missing_slaves=True,
        )
        await server.start()
        ready = {"ready": True}
    else:
        framer = ModbusRtuFramer if mode == "rtu-tcp" else ModbusSocketFramer
        server = ModbusTcpServer(context, framer=framer, address=("127.0.0.1", 0), ignore_missing_slaves=True)
        asyncio.create_task(server.serve_forever())
        await server.serving
        ready = {"port": server.server.sockets[0].getsockname()[1]}
    print(json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        words = line.split()
        if len(words) == 2 and words[0] == "stop":
            del context[int(words[1])]
    await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
