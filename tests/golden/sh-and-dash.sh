taskrunner -n dashy dash -c 'taskrunner -n inner sh -c "echo from sh inside dash"; echo "from dash"'
