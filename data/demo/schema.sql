-- The demo business database of mscsql: regions, customers, products and orders.
-- `mscsql demo create` builds it (SQLite) from this file and the CSV files beside it.
CREATE TABLE regions (
    region_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,            -- sales region, e.g. 'Northeast'
    country TEXT NOT NULL
);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,            -- company name
    city TEXT NOT NULL,
    region_id INTEGER NOT NULL REFERENCES regions(region_id),
    segment TEXT NOT NULL,         -- 'Enterprise', 'SMB' or 'Consumer'
    signup_date TEXT NOT NULL      -- ISO date the customer signed up
);
CREATE TABLE products (
    product_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,        -- 'Hardware', 'Software', 'Services' or 'Accessories'
    unit_price REAL NOT NULL       -- list price in US dollars
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    product_id INTEGER NOT NULL REFERENCES products(product_id),
    order_date TEXT NOT NULL,      -- ISO date
    quantity INTEGER NOT NULL,
    status TEXT NOT NULL           -- 'shipped', 'pending' or 'cancelled'
);
