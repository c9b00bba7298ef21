"""Drives greenlets through libgreen.so from Python's ctypes.

Usage: ctypes_greenlets.py /path/to/libgreen.so

ctypes calls only what the library exports, so this also proves that the
header's inline greenlet_switch() has a callable symbol.

The greenlet bodies are Python callbacks, and the interpreter keeps one
stack of Python frames per OS thread, freed from the top.  So greenlet_switch
is called directly (never from a Python helper function) both by a body and
by the test that resumes it: every frame a greenlet pushes then stays above
the test's frame and below any frame the test pushes while it is suspended.
"""

import ctypes
import sys
import unittest

GREENLET_EXIT = -1

lib = ctypes.CDLL(sys.argv.pop(1) if len(sys.argv) > 1 else "libgreen.so")
greenlet_p = ctypes.c_void_p
RUN_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


class Attr(ctypes.Structure):
    _fields_ = [("stack_size", ctypes.c_size_t), ("name", ctypes.c_char_p)]


def declare(name, restype, *argtypes):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


greenlet_new = declare("greenlet_new", ctypes.c_int,
                       ctypes.POINTER(greenlet_p), RUN_FN, greenlet_p,
                       ctypes.POINTER(Attr))
greenlet_switch = declare("greenlet_switch", ctypes.c_int, greenlet_p,
                          ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p))
greenlet_destroy = declare("greenlet_destroy", ctypes.c_int, greenlet_p)
greenlet_current = declare("greenlet_current", greenlet_p)
greenlet_parent = declare("greenlet_parent", greenlet_p, greenlet_p)
greenlet_dead = declare("greenlet_dead", ctypes.c_int, greenlet_p)
greenlet_name = declare("greenlet_name", ctypes.c_char_p, greenlet_p)


def new(body, name):
    """A greenlet running body(first value) -> int, and its callback, which
    must stay referenced while the greenlet can run."""
    callback = RUN_FN(body)
    g = greenlet_p()
    attr = Attr(stack_size=1 << 20, name=name)
    err = greenlet_new(ctypes.byref(g), callback, None, ctypes.byref(attr))
    if err != 0:
        raise OSError(err, "greenlet_new")
    return g, callback


class CtypesGreenlets(unittest.TestCase):
    def test_values_go_back_and_forth(self):
        seen = []

        def running_sum(first):
            parent = greenlet_parent(greenlet_current())
            total, value = 0, ctypes.c_void_p(first)
            while value.value:
                seen.append(value.value)
                total += value.value
                if greenlet_switch(parent, total, ctypes.byref(value)) != 0:
                    return None
            return total * 1000

        g, callback = new(running_sum, b"summer")
        self.assertEqual(greenlet_name(g), b"summer")
        back = ctypes.c_void_p()
        sums = []
        for value in (5, 7, 30):
            self.assertEqual(greenlet_switch(g, value, ctypes.byref(back)), 0)
            sums.append(back.value)
        self.assertEqual(sums, [5, 12, 42])
        self.assertFalse(greenlet_dead(g))
        # NULL ends the loop: the body's return value comes back as a switch.
        self.assertEqual(greenlet_switch(g, None, ctypes.byref(back)), 0)
        self.assertEqual(back.value, 42000)
        self.assertTrue(greenlet_dead(g))
        self.assertEqual(seen, [5, 7, 30])
        self.assertEqual(greenlet_destroy(g), 0)
        del callback

    def test_destroy_kills_a_suspended_greenlet(self):
        errors = []

        def wait_forever(_):
            parent = greenlet_parent(greenlet_current())
            while True:
                err = greenlet_switch(parent, 1, None)
                if err != 0:
                    errors.append(err)
                    return None

        g, callback = new(wait_forever, None)
        back = ctypes.c_void_p()
        self.assertEqual(greenlet_switch(g, None, ctypes.byref(back)), 0)
        self.assertEqual(back.value, 1)
        # Destroying it resumes its switch with GREENLET_EXIT; it returns.
        self.assertEqual(greenlet_destroy(g), 0)
        self.assertEqual(errors, [GREENLET_EXIT])
        del callback

    def test_switch_to_the_current_greenlet_returns_the_value(self):
        back = ctypes.c_void_p()
        self.assertEqual(
            greenlet_switch(greenlet_current(), 99, ctypes.byref(back)), 0)
        self.assertEqual(back.value, 99)


if __name__ == "__main__":
    unittest.main()
