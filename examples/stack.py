"""A small example file for trying dllm-complete: `dllm-complete examples/stack.py:19`."""


class Stack:
    """A last-in, first-out stack."""

    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if not self.items:
            raise IndexError("pop from an empty stack")
        return self.items.pop()

    def peek(self):
        return 

    def __len__(self):
        return len(self.items)
