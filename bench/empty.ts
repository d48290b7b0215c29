// Nothing: the bench measures how long starting node with the tsx loader takes on its own.
export {};
