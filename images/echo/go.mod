module herald/images/echo

go 1.26.0
